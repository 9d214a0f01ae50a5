# gemflow worker image. Three stages: build (TypeScript with dev dependencies), deps (production
# dependencies only; better-sqlite3 is native, hence the toolchain), runtime (node + tini + the two).
#
# The runtime runs as a non-root user (uid 10001) and writes nothing outside its two mount points, so
# it works with readOnlyRootFilesystem: /tmp (TMPDIR) and /var/lib/gemflow (HOME, and the pipeline's
# stateDir: LLM cache and dedupe state) are emptyDir volumes in the manifests (deploy/base).
# tini is PID 1 so SIGTERM reaches node (graceful drain) and zombies are reaped.
#
#   docker build -t gemflow:0.1.0 .
#   docker run --rm gemflow:0.1.0 --help
#
# tests/deploy/image-replay.test.ts replays the deps and runtime steps in a clean folder (no
# container daemon in CI); keep the two in step.
ARG NODE_IMAGE=node:20.19.5-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY operators ./operators
COPY bench ./bench
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts=false --no-audit --no-fund \
 && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 gemflow \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/gemflow --no-create-home --shell /usr/sbin/nologin gemflow \
 && mkdir -p /var/lib/gemflow \
 && chown 10001:10001 /var/lib/gemflow
ENV NODE_ENV=production \
    HOME=/var/lib/gemflow \
    TMPDIR=/tmp
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY examples ./examples
# Data files the compiled steps read at run time (tsc copies no JSON): the default relevance model.
COPY operators/relevance/models ./operators/relevance/models
USER 10001:10001
# Worker endpoints: /healthz, /readyz, /metrics (pipeline key server.port).
EXPOSE 9464
# node flags: src/node-flags.ts (a 64 MB young-generation semi-space; tests/src/node-flags.test.ts).
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=64", "/app/bin/gemflow.js"]
CMD ["--help"]
