# infercast: the two set-up commands are `make demo` and `make test`.
# Both install what is missing (Debian packages, npm packages, model files into the
# git-ignored .cache/), build, then run. Re-running is fast when nothing changed.

BUILD      ?= build
JOBS       ?= $(shell nproc)
FUZZ_SECONDS ?= 20
FUZZ_RUNS  ?= 300000
PY         := /usr/bin/python3
TORCHVISION_TEST_MODELS := resnet18 resnet50 mobilenet_v2 mobilenet_v3_large squeezenet1_1 densenet121 \
                           googlenet alexnet vit_b_16 swin_t
REFERENCE  := .cache/reference

.PHONY: all deps build models runners references test unit-test fuzz fuzz-replay demo bench format clean

all: build

deps:
	@scripts/install_deps.sh
	@scripts/install_report_js.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# npm packages of the external runners (ONNX Runtime), exact versions from the lockfiles.
runners: deps
	@scripts/install_runners.sh

models: deps
	@scripts/fetch_mediapipe.sh
	@scripts/fetch_torchvision.sh $(TORCHVISION_TEST_MODELS)

# Reference figures computed by tools nobody here wrote (Python onnx + its shape
# inference; the ONNX suite's own output tensors), read by the C++ tests.
references: models
	@mkdir -p $(REFERENCE)/torchvision
	@$(PY) tests/reference/onnx_testdata_shapes.py
	@for m in $(TORCHVISION_TEST_MODELS); do \
	  out=$(REFERENCE)/torchvision/$$m.json; src=.cache/models/torchvision/$$m.onnx; \
	  if [ ! -s $$out ] || [ $$src -nt $$out ]; then \
	    $(PY) tests/reference/onnx_reference_counts.py $$src --json > $$out.tmp && mv $$out.tmp $$out; fi; \
	done

unit-test: build references runners
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Open-ended fuzzing: random seed, FUZZ_SECONDS per format.
fuzz: deps
	@scripts/fuzz.sh $(FUZZ_SECONDS)

# What `make test` runs: the same fixed-seed inputs every time, so CI is reproducible.
fuzz-replay: deps
	@FUZZ_RUNS=$(FUZZ_RUNS) scripts/fuzz.sh 120

test: runners unit-test fuzz-replay

demo: build runners
	@scripts/fetch_mediapipe.sh
	@scripts/fetch_torchvision.sh resnet18
	$(BUILD)/infercast analyze .cache/models/mediapipe/face_detection_short_range.tflite
	@echo
	$(BUILD)/infercast analyze .cache/models/mediapipe/selfie_segmentation.tflite --per-layer
	@echo
	$(BUILD)/infercast analyze .cache/models/torchvision/resnet18.onnx
	@echo
	$(BUILD)/infercast run .cache/models/torchvision/resnet18.onnx --runtime ort --threads 2
	@echo
	$(BUILD)/infercast run .cache/models/mediapipe/selfie_segmentation.tflite --runtime xnnpack --threads 2 --per-layer
	@echo
	$(BUILD)/infercast verify .cache/models/torchvision/resnet18.onnx --runtime xnnpack --reference ort
	@echo
	@mkdir -p .cache/demo
	$(BUILD)/infercast export .cache/models/mediapipe/selfie_segmentation.tflite --to onnx -o .cache/demo/selfie_segmentation.onnx
	$(BUILD)/infercast verify .cache/models/mediapipe/selfie_segmentation.tflite --runtime xnnpack --reference ort \
	  --reference-model .cache/demo/selfie_segmentation.onnx
	@echo
	$(BUILD)/infercast bench --runtime xnnpack --db .cache/demo/kernels.db --kernels conv,dwconv+relu6,fc --count 12 -q
	$(BUILD)/infercast db stats --db .cache/demo/kernels.db
	@echo
	$(BUILD)/infercast profile --runtime xnnpack --budget 3m -o .cache/demo/xnnpack.predictor \
	  --models .cache/models/torchvision/resnet18.onnx .cache/models/mediapipe/selfie_segmentation.tflite
	$(BUILD)/infercast predict .cache/models/torchvision/resnet18.onnx --predictor .cache/demo/xnnpack.predictor --read-host
	$(BUILD)/infercast validate --predictor .cache/demo/xnnpack.predictor --runtime xnnpack \
	  .cache/models/torchvision/resnet18.onnx .cache/models/mediapipe/selfie_segmentation.tflite

bench: build runners
	@bench/analyze_speed.sh
	@bench/runner_overhead.sh
	@bench/runtimes.sh
	@bench/bench_throughput.sh
	@bench/benchmark_model_parser.sh
	@mkdir -p .cache/demo
	@$(BUILD)/infercast predict .cache/models/torchvision/resnet18.onnx --predictor .cache/demo/xnnpack.predictor \
	  >/dev/null 2>&1 || $(BUILD)/infercast profile --runtime xnnpack --budget 3m \
	  -o .cache/demo/xnnpack.predictor --models .cache/models/torchvision/resnet18.onnx \
	  .cache/models/mediapipe/selfie_segmentation.tflite
	@bench/predict_speed.sh .cache/demo/xnnpack.predictor

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD) build-fuzz
