# Directus with directus-extension-auth-client-credentials, installed the way the guide installs it.
#
#   docker build -t directus-bcc .                                     # Directus 11
#   docker build -t directus-bcc:12 --build-arg DIRECTUS_VERSION=12.4.0 .
#
# Nothing secret is built in: KEY, SECRET, the database and every BCC_AUTH_* variable are given at run time
# (see examples/docker-compose.yml).

# An exact version, never `latest`, so a rebuild gives the same Directus the extension was tested against.
ARG DIRECTUS_VERSION=11.17.4

# Build stage: the same bundle and the same tarball `npm pack` makes for a release.
FROM node:22.23.3-bookworm-slim AS build
WORKDIR /src
# Dependencies first, so editing the sources does not re-run `npm ci`.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# The image gets the packed package (package.json and dist/ only), not the sources or devDependencies.
RUN npm run build \
	&& npm pack --pack-destination /tmp \
	&& mkdir -p /pack/auth-client-credentials \
	&& tar -xzf /tmp/directus-extension-auth-client-credentials-*.tgz -C /pack/auth-client-credentials --strip-components=1

FROM directus/directus:${DIRECTUS_VERSION}

# The guide's Docker install, step for step; the e2e suite runs the `pnpm install` line below verbatim.
USER root
RUN corepack enable
USER node

COPY --from=build --chown=node:node /pack/auth-client-credentials ./auth-client-credentials
RUN pnpm install ./auth-client-credentials
