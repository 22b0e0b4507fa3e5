# The Assay worker image for users who build with a registry (docs/deploy.md). The local stack builds the same
# layout offline with `npm run images` (src/deploy/images.ts); both run /app/dist/worker.js as uid 65532 with a
# read-only root filesystem (mount a writable /tmp), and /app/dist/assay.js for `controller` and `admission`.
#
#   docker build -t registry.example.com/assay/worker:0.1.0 .
#   docker push registry.example.com/assay/worker:0.1.0
#   helm install assay deploy/helm/assay --set image.repository=registry.example.com/assay/worker

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
# dist/worker.js, dist/assay.js and the prebuilt workflow bundle.
RUN npx tsx src/deploy/build-dist.ts /out/dist
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && find node_modules -type f \( -name '*.d.ts' -o -name '*.map' -o -name '*.md' \) -delete

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="assay-worker" \
      org.opencontainers.image.description="The Assay worker (also assay controller and assay admission)" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="Assay"
ENV NODE_ENV=production \
    ASSAY_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js \
    HOME=/home/nonroot
RUN groupadd --gid 65532 nonroot && useradd --uid 65532 --gid 65532 --home-dir /home/nonroot --create-home nonroot
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /out/dist ./dist
RUN printf '{"name":"assay","version":"0.1.0","private":true,"type":"module"}\n' > package.json \
 && printf '#!/usr/bin/env node\nimport("/app/dist/assay.js");\n' > /usr/local/bin/assay \
 && chmod 755 /usr/local/bin/assay
USER 65532:65532
ENTRYPOINT ["node"]
CMD ["/app/dist/worker.js"]
