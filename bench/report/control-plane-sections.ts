// Report sections for the control-plane scenarios (1: rollout failures, 2: programming latency).
type Chart = (file: string, spec: import('vega-lite').TopLevelSpec) => string;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function rolloutSection(_r: any, _chart: Chart): string[] {
  return [];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function programmingSection(_r: any, _chart: Chart): string[] {
  return [];
}
