#!/bin/sh
# Builds the static exsim binary into deploy/, the build context of the
# image docker-compose.yml runs (FROM scratch: the binary must not need a
# C library). Then: docker compose up --build -d (Compose v1: docker-compose)
set -eu
cd "$(dirname "$0")/.."
CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags='-s -w' -o deploy/exsim ./cmd/exsim
echo "built deploy/exsim; now: docker compose up --build -d (or docker-compose up --build -d)"
