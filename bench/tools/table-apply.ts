// How long the backend table takes to apply one EndpointSlice change, by table size, with no
// control plane in the way: `node bench/tools/table-apply.ts` (prints microseconds per change).
// The programming-latency scenario measures the whole path (kubelet status -> EndpointSlice
// controller -> apiserver -> watch -> table); this is the proxy's own share of it.
import { BackendTable } from '../../proxy/table/backend-table.ts';
import { endpointSlice, service } from '../../test/support/objects.ts';

for (const n of [100, 1000, 10_000]) {
  const table = new BackendTable({ nodeName: 'node-a', onChange: () => {}, onWarning: () => {} });
  for (let i = 0; i < n; i++) {
    table.upsertService(service({ name: `s${i}`, nodePort: 20000 + i }));
    const ips = Array.from({ length: 6 }, (_, j) => ({ ip: `10.${(i >> 8) & 255}.${i & 255}.${j}` }));
    table.upsertEndpointSlice(endpointSlice({ service: `s${i}`, port: 8080, endpoints: ips }));
  }
  // One endpoint of one Service flips between not ready and ready, as in the bench scenario.
  const notReady = endpointSlice({ service: 's7', port: 8080, endpoints: [{ ip: '10.0.7.0', ready: false }, { ip: '10.0.7.1' }] });
  const ready = endpointSlice({ service: 's7', port: 8080, endpoints: [{ ip: '10.0.7.0' }, { ip: '10.0.7.1' }] });
  for (let i = 0; i < 200; i++) table.upsertEndpointSlice(i % 2 ? notReady : ready); // warm-up
  const changes = 2000;
  const t0 = performance.now();
  for (let i = 0; i < changes; i++) table.upsertEndpointSlice(i % 2 ? notReady : ready);
  console.log(`${n} Services: ${(((performance.now() - t0) / changes) * 1000).toFixed(1)} µs per EndpointSlice change`);
}
