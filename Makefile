# dpdkci — make targets mirror kubevirtci's (cluster-up, cluster-down, cluster-sync...).
# Variables pass through to the CLI:  make cluster-up NODES=2 MEMORY=4G HUGEPAGES_2M=512 DPDK=true
SHELL := /bin/bash
.DEFAULT_GOAL := help

DPDKCI := node bin/dpdkci.js
NODE ?= node01

# Each variable becomes its flag when set (an empty variable is left out).
flag = $(if $(strip $($(1))),$(2) '$(strip $($(1)))')
UP_FLAGS = $(call flag,PREFIX,--prefix) $(call flag,KUBERNETES,--kubernetes) $(call flag,NODES,--nodes) $(call flag,MEMORY,--memory) \
  $(call flag,CPU,--cpu) $(call flag,HUGEPAGES_2M,--hugepages-2m) $(call flag,HUGEPAGES_1G,--hugepages-1g) \
  $(call flag,SECONDARY_NICS,--secondary-nics) $(call flag,KERNEL_ARGS,--kernel-args) \
  $(call flag,QEMU_ARGS,--qemu-args) $(call flag,ACCEL,--accel) $(call flag,DEBIAN_MIRROR,--debian-mirror) \
  $(if $(filter true yes 1,$(DPDK)),--dpdk) \
  $(if $(filter auto,$(SNAPSHOT)),--snapshot auto,$(call flag,SNAPSHOT,--from-snapshot)) $(EXTRA_FLAGS)
PREFIX_FLAG = $(call flag,PREFIX,--prefix)

SYNC_FLAGS = $(foreach f,$(IMAGES),--image '$(f)') $(foreach f,$(CNI_BIN),--cni-bin '$(f)') $(call flag,MANIFESTS,--manifests) $(call flag,REGISTRY,--registry)

.PHONY: help deps build cluster-up cluster-snapshot cluster-down cluster-sync cluster-ssh cluster-status provision test test-unit test-e2e lint bench clean

help:
	@echo "make deps                   install host packages (qemu, vde2, debootstrap, ...) as root"
	@echo "make cluster-up [DPDK=true] [NODES=2 MEMORY=3G CPU=2 HUGEPAGES_2M=512 PREFIX=name ...]"
	@echo "make cluster-up SNAPSHOT=auto   restore the snapshot that matches, else a full up saved as one (SNAPSHOT=name: that one)"
	@echo "make cluster-snapshot [NAME=n]  save the running cluster (dpdkci snapshot save)"
	@echo "make cluster-down           stop the nodes and remove everything the cluster left"
	@echo "make cluster-sync [IMAGES='a.tar b.tar'] [CNI_BIN=dir] [MANIFESTS=dir] [REGISTRY=cluster|HOST:PORT]   push your build into the cluster"
	@echo "make cluster-ssh NODE=node01 [CMD='...']"
	@echo "make test                   typecheck, shellcheck, unit and e2e tests (real QEMU nodes)"
	@echo "make bench                  image build, boot and up timings"

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

dist/.built: node_modules/.package-lock.json tsconfig.json $(shell find src providers scripts -name '*.ts' 2>/dev/null)
	npx tsc -p tsconfig.json
	@touch $@

build: dist/.built

deps:
	bash scripts/install-host-deps.sh

cluster-up: build
	@bash scripts/install-host-deps.sh --check || bash scripts/install-host-deps.sh
	$(DPDKCI) up $(UP_FLAGS)

cluster-snapshot: build
	$(DPDKCI) snapshot save $(NAME) $(PREFIX_FLAG)

cluster-down: build
	$(DPDKCI) down $(PREFIX_FLAG)

cluster-sync: build
	$(DPDKCI) sync $(PREFIX_FLAG) $(SYNC_FLAGS)

cluster-ssh: build
	$(DPDKCI) ssh $(PREFIX_FLAG) $(NODE) $(if $(CMD),-- $(CMD))

cluster-status: build
	$(DPDKCI) status $(PREFIX_FLAG)

provision: build
	$(DPDKCI) provision

lint: build
	npx tsc -p tsconfig.test.json
	shellcheck -x scripts/*.sh scripts/image/*.sh scripts/node/*.sh scripts/image-layer/*.sh cluster-up/*.sh cluster-up/hack/*.sh cluster-up/cluster/*.sh cluster-up/cluster/*/provider.sh test/e2e/fixtures/*.sh .ci/run

test-unit: build
	@bash scripts/install-host-deps.sh --check --test || bash scripts/install-host-deps.sh --test
	npm run test:unit

test-e2e: build
	@bash scripts/install-host-deps.sh --check --test || bash scripts/install-host-deps.sh --test
	npm run test:e2e

test: lint test-unit test-e2e

bench: build
	npm run bench

clean:
	rm -rf dist
