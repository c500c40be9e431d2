# One image for the worker and the API (compose picks the command).
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY --chown=node:node . .
ENV LEDGER_PATH=/data/ledger.db
# Worker Versioning's build id (README: Operations): the image has no .git to read the commit from, so
# build with --build-arg WORKER_BUILD_ID=0.1.0+$(git rev-parse --short=7 HEAD).
ARG WORKER_BUILD_ID=
ENV WORKER_BUILD_ID=${WORKER_BUILD_ID}
# Not root: the processes own the app and the ledger directory (a new named volume takes its owner from here).
RUN mkdir -p /data && chown node:node /data /app
USER node
VOLUME ["/data"]
CMD ["npm", "run", "worker"]
