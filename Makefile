# Chillin: the two commands that matter are `make run` and `make test`.
# Both first make sure PostgreSQL and Redis answer (ops/scripts/deps.sh
# installs and starts private ones when they do not); NATS JetStream runs
# embedded. `make cluster` runs the services as separate processes behind
# nginx instead (see docs/operations.md).

SHELL := /bin/bash
GO ?= go
MODULES := events schema ui gateway validator projector ops
GOTEST_FLAGS ?= -race -count=1 -timeout 15m

.PHONY: run cluster test deps test-go test-ui vet fmt build bench clean

deps:
	@bash ops/scripts/deps.sh

## run: the whole system on this machine at http://127.0.0.1:8080
run: deps
	@source var/deps.env && $(GO) run ./ops/cmd/chillin $(ARGS)

## cluster: the services as separate processes on this machine: three NATS
## nodes (R3 streams), 2 gateways behind nginx, 2 validators, 2 projectors (Ctrl-C stops)
cluster: deps
	@mkdir -p bin
	@$(GO) build -o bin/chillin-cluster ./ops/cmd/chillin-cluster
	@source var/deps.env && bin/chillin-cluster $(ARGS)

## test: every test of every module, with the race detector
test: deps vet test-go test-ui

vet:
	@for m in $(MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done

test-go:
	@source var/deps.env && $(GO) test $(GOTEST_FLAGS) $(addsuffix /...,$(addprefix ./,$(MODULES)))

test-ui:
	@bash ops/scripts/ui-test.sh

build:
	@mkdir -p bin
	$(GO) build -o bin/ ./ops/cmd/... ./gateway/cmd/... ./validator/cmd/... ./projector/cmd/...

## bench: the benchmarks of docs/performance.md (not part of `make test`);
## e.g. `make bench ARGS="aio durable"` or ARGS="cluster durable a b"
bench: deps build
	@bash ops/scripts/bench.sh $(or $(ARGS),aio durable)

fmt:
	@gofmt -l -w $(MODULES)

clean:
	rm -rf bin var/data
