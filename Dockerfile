# The microstat agent as an image. Build from the repository root:
#   docker build -t microstat:local .
# docker-compose.yml runs it with the host's /proc, cgroup tree and /run
# mounted read-only below /host, and the host's pid and cgroup namespaces.

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
COPY tsconfig.json ./
COPY agent ./agent
RUN npm ci && npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/agent ./dist/agent
# Root, on purpose: a microVM's memory is the PSS of its processes, read
# from /proc/<pid>/smaps_rollup, which the kernel only shows to the owner
# of the process or to a reader with CAP_SYS_PTRACE over it (ptrace access
# mode checks). QEMU, virtiofsd and the shim run as root, so a non-root
# agent would fall back to RSS and double count guest RAM. The container
# gets no write access to anything it mounts: every host path is read-only.
USER root
EXPOSE 8095
ENTRYPOINT ["node", "dist/agent/src/cli/main.js"]
CMD ["serve", "--web.listen-address", "0.0.0.0:8095", \
     "--path.procfs", "/host/proc", \
     "--path.cgroupfs", "/host/sys/fs/cgroup", \
     "--path.run", "/host/run"]
