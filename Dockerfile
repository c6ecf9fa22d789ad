# nodeport-proxy image. No build step: Node runs the TypeScript sources directly (type stripping),
# so the image holds package.json, the production node_modules and proxy/.
#
# Signals: no tini. The proxy is PID 1 and installs its own SIGTERM/SIGINT handlers (graceful
# drain, proxy/cli/bin.ts); PID 1 only ignores signals it has no handler for. Its only child
# processes are its own --workers, which Node reaps when they exit, and nothing else is ever
# started, so there are no orphans to reap. (`docker run --init` or tini would also work.)
#
# The Node major must match the project's pinned `node` devDependency (checked by
# test/unit/dockerfile.test.ts).
ARG NODE_IMAGE=node:26-bookworm-slim

# Stage 1: production dependencies only, installed exactly from the lockfile. No dependency
# needs an install script, so scripts stay off.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# Stage 2: the runtime. npm and corepack are removed: nothing installs anything at run time, and
# they are the bulk of the image's attack surface besides node itself.
FROM ${NODE_IMAGE}
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY proxy ./proxy
# Non-root, numeric so that runAsNonRoot can verify it; the DaemonSet uses the same UID
# (SO_REUSEPORT only lets sockets of one UID share a port during a rolling update).
USER 65532:65532
# --max-semi-space-size=4 (MiB): V8's young generation is sized for allocation-heavy apps; a
# proxy keeps few short-lived objects alive, and the smaller nursery cuts the memory per idle
# proxied connection from about 8 KiB to about 5 KiB (bench/, memory scenario). The benchmark
# starts the proxy with the flags read from this line, so it measures what the image runs.
ENTRYPOINT ["node", "--max-semi-space-size=4", "proxy/cli/bin.ts"]
