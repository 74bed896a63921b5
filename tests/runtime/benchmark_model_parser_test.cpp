// The benchmark_model output parser on outputs written out as TensorFlow Lite's tool
// prints them: the exact tab/std::setw layout of tensorflow/core/util/stats_calculator.cc
// (both with and without the [start] column), profile_summary_formatter.cc (subgraph and
// "Delegate internal:" sections), benchmark_model.cc (both summary lines, Stat<int64_t>
// lines) and the logging prefixes of tensorflow/lite/tools/logging.h, across versions from
// TF 1.13 to LiteRT. Every number asserted below is read off the text itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "infercast/base/error.hpp"
#include "infercast/runtime/benchmark_model.hpp"

namespace infercast::runtime::benchmark_model {
namespace {

// Tables below contain literal tab characters, as the tool prints them.
const std::string kCpuTf214 = R"bm(INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Num threads: [4]
INFO: Graph: [/data/local/tmp/face_detection_short_range.tflite]
INFO: #threads used for CPU inference: [4]
INFO: Loaded model /data/local/tmp/face_detection_short_range.tflite
INFO: Initialized TensorFlow Lite runtime.
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
INFO: Replacing 164 out of 164 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions for the whole graph.
INFO: The input model file size (MB): 0.229367
INFO: Initialized session in 14.375ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=195 first=4046 curr=2410 min=2389 max=4046 avg=2552.92 std=232

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=394 first=2475 curr=2497 min=2388 max=3567 avg=2528.29 std=121

INFO: Inference timings in us: Init: 14375, First inference: 4046, Warmup (avg): 2552.92, Inference (avg): 2528.29
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=5.26172 overall=6.76172
)bm";

const std::string kLegacyTf113 = R"bm(STARTING!
Min num runs: [50]
Min runs duration (seconds): [1]
Inter-run delay (seconds): [-1]
Num threads: [1]
Benchmark name: []
Output prefix: []
Min warmup runs: [1]
Min warmup runs duration (seconds): [0.5]
Graph: [/data/local/tmp/mobilenet_v2_1.0_224_quant.tflite]
Input layers: []
Input shapes: []
Use nnapi : [0]
Use legacy nnapi : [0]
Use gpu : [0]
Allow fp16 : [0]
Enable op profiling: [1]
Loaded model /data/local/tmp/mobilenet_v2_1.0_224_quant.tflite
resolved reporter
INFO: Initialized TensorFlow Lite runtime.
Initialized session in 1.892ms
Running benchmark for at least 1 iterations and at least 0.5 seconds
count=6 first=91810 curr=85097 min=84834 max=91810 avg=86184.3 std=2519

Running benchmark for at least 50 iterations and at least 1 seconds
count=50 first=118810 curr=114219 min=88216 max=129193 avg=115062 std=7678

Average inference timings in us: Warmup: 86184.3, Init: 1892, no stats: 115062
============================== Run Order ==============================
	             [node type]	          [start]	  [first]	 [avg ms]	     [%]	  [cdf%]	  [mem KB]	[times called]	[Name]
	                 CONV_2D	            0.000	    5.567	    7.237	 48.032%	 48.032%	     0.000	        1	[MobilenetV2/Conv/Relu6]
	       DEPTHWISE_CONV_2D	            7.237	    3.518	    3.726	 24.730%	 72.762%	     0.000	        1	[MobilenetV2/expanded_conv/depthwise/Relu6]
	                 CONV_2D	           10.963	    2.399	    3.711	 24.630%	 97.392%	     0.000	        1	[MobilenetV2/expanded_conv/project/add_fold]
	                     ADD	           14.674	    0.279	    0.293	  1.945%	 99.336%	     0.000	        1	[MobilenetV2/expanded_conv_2/add]
	         AVERAGE_POOL_2D	           14.967	    0.102	    0.097	  0.644%	 99.980%	     0.000	        1	[MobilenetV2/Logits/AvgPool]
	                 RESHAPE	           15.064	    0.004	    0.003	  0.020%	100.000%	     0.000	        1	[output]

============================== Top by Computation Time ==============================
	             [node type]	          [start]	  [first]	 [avg ms]	     [%]	  [cdf%]	  [mem KB]	[times called]	[Name]
	                 CONV_2D	            0.000	    5.567	    7.237	 48.032%	 48.032%	     0.000	        1	[MobilenetV2/Conv/Relu6]
	       DEPTHWISE_CONV_2D	            7.237	    3.518	    3.726	 24.730%	 72.762%	     0.000	        1	[MobilenetV2/expanded_conv/depthwise/Relu6]
	                 CONV_2D	           10.963	    2.399	    3.711	 24.630%	 97.392%	     0.000	        1	[MobilenetV2/expanded_conv/project/add_fold]
	                     ADD	           14.674	    0.279	    0.293	  1.945%	 99.336%	     0.000	        1	[MobilenetV2/expanded_conv_2/add]
	         AVERAGE_POOL_2D	           14.967	    0.102	    0.097	  0.644%	 99.980%	     0.000	        1	[MobilenetV2/Logits/AvgPool]
	                 RESHAPE	           15.064	    0.004	    0.003	  0.020%	100.000%	     0.000	        1	[output]

============================== Top by Memory Use ==============================
	             [node type]	          [start]	  [first]	 [avg ms]	     [%]	  [cdf%]	  [mem KB]	[times called]	[Name]
	                 CONV_2D	            0.000	    5.567	    7.237	 48.032%	 48.032%	     0.000	        1	[MobilenetV2/Conv/Relu6]
	       DEPTHWISE_CONV_2D	            7.237	    3.518	    3.726	 24.730%	 72.762%	     0.000	        1	[MobilenetV2/expanded_conv/depthwise/Relu6]
	                 CONV_2D	           10.963	    2.399	    3.711	 24.630%	 97.392%	     0.000	        1	[MobilenetV2/expanded_conv/project/add_fold]
	                     ADD	           14.674	    0.279	    0.293	  1.945%	 99.336%	     0.000	        1	[MobilenetV2/expanded_conv_2/add]
	         AVERAGE_POOL_2D	           14.967	    0.102	    0.097	  0.644%	 99.980%	     0.000	        1	[MobilenetV2/Logits/AvgPool]
	                 RESHAPE	           15.064	    0.004	    0.003	  0.020%	100.000%	     0.000	        1	[output]

Number of nodes executed: 6
============================== Summary by node type ==============================
	             [Node type]	  [count]	  [avg ms]	    [avg %]	    [cdf %]	  [mem KB]	[times called]
	                 CONV_2D	        2	    10.948	    72.662%	    72.662%	     0.000	        2
	       DEPTHWISE_CONV_2D	        1	     3.726	    24.730%	    97.392%	     0.000	        1
	                     ADD	        1	     0.293	     1.945%	    99.336%	     0.000	        1
	         AVERAGE_POOL_2D	        1	     0.097	     0.644%	    99.980%	     0.000	        1
	                 RESHAPE	        1	     0.003	     0.020%	   100.000%	     0.000	        1

Timings (microseconds): count=50 first=110936 curr=112017 min=85765 max=127012 avg=112648 std=7618
Memory (bytes): count=0
6 nodes observed

)bm";

const std::string kGpuTf28 = R"bm(INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Graph: [/data/local/tmp/face_detection_short_range.tflite]
INFO: Enable op profiling: [1]
INFO: Use gpu: [1]
INFO: Loaded model /data/local/tmp/face_detection_short_range.tflite
INFO: Initialized TensorFlow Lite runtime.
INFO: Created TensorFlow Lite delegate for GPU.
INFO: GPU delegate created.
INFO: Replacing 162 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 1 partitions.
INFO: Initialized OpenCL-based API.
INFO: Created 1 GPU delegate kernels.
INFO: Explicitly applied GPU delegate, and the model graph will be partially executed by the delegate w/ 1 delegate kernels.
INFO: The input model file size (MB): 0.229367
INFO: Initialized session in 967.41ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=91 first=11093 curr=5380 min=5011 max=11093 avg=5493.6 std=652

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=188 first=5436 curr=5201 min=4987 max=6902 avg=5319.74 std=238

INFO: Inference timings in us: Init: 967410, First inference: 11093, Warmup (avg): 5493.6, Inference (avg): 5319.74
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=97.3008 overall=98.4492
INFO: Profiling Info for Benchmark Initialization:
============================== Run Order ==============================
	             [node type]	          [start]	  [first]	 [avg ms]	     [%]	  [cdf%]	  [mem KB]	[times called]	[Name]
	 ModifyGraphWithDelegate	            0.000	  552.750	  552.750	 57.137%	 57.137%	     0.000	        1	ModifyGraphWithDelegate/0
	         AllocateTensors	          552.750	  414.653	  207.330	 42.863%	100.000%	     0.000	        2	AllocateTensors/0

============================== Top by Computation Time ==============================
	             [node type]	          [start]	  [first]	 [avg ms]	     [%]	  [cdf%]	  [mem KB]	[times called]	[Name]
	 ModifyGraphWithDelegate	            0.000	  552.750	  552.750	 57.137%	 57.137%	     0.000	        1	ModifyGraphWithDelegate/0
	         AllocateTensors	          552.750	  414.653	  207.330	 42.863%	100.000%	     0.000	        2	AllocateTensors/0

Number of nodes executed: 2
============================== Summary by node type ==============================
	             [Node type]	  [count]	  [avg ms]	    [avg %]	    [cdf %]	  [mem KB]	[times called]
	 ModifyGraphWithDelegate	        1	   552.750	    57.137%	    57.137%	     0.000	        1
	         AllocateTensors	        1	   414.660	    42.863%	   100.000%	     0.000	        2

Timings (microseconds): count=1 curr=967410
Memory (bytes): count=0
2 nodes observed



INFO: Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
	             [node type]	          [start]	  [first]	 [avg ms]	     [%]	  [cdf%]	  [mem KB]	[times called]	[Name]
	     TfLiteGpuDelegateV2	            0.000	    6.912	    5.104	 99.049%	 99.049%	     0.000	        1	[regressors, classificators]:164
	                 RESHAPE	            5.104	    0.021	    0.018	  0.349%	 99.398%	     0.000	        1	[reshaped_classificators]:165
	                LOGISTIC	            5.122	    0.035	    0.031	  0.602%	100.000%	     0.000	        1	[scores]:166

============================== Top by Computation Time ==============================
	             [node type]	          [start]	  [first]	 [avg ms]	     [%]	  [cdf%]	  [mem KB]	[times called]	[Name]
	     TfLiteGpuDelegateV2	            0.000	    6.912	    5.104	 99.049%	 99.049%	     0.000	        1	[regressors, classificators]:164
	                LOGISTIC	            5.122	    0.035	    0.031	  0.602%	 99.651%	     0.000	        1	[scores]:166
	                 RESHAPE	            5.104	    0.021	    0.018	  0.349%	100.000%	     0.000	        1	[reshaped_classificators]:165

Number of nodes executed: 3
============================== Summary by node type ==============================
	             [Node type]	  [count]	  [avg ms]	    [avg %]	    [cdf %]	  [mem KB]	[times called]
	     TfLiteGpuDelegateV2	        1	     5.104	    99.049%	    99.049%	     0.000	        1
	                LOGISTIC	        1	     0.031	     0.602%	    99.651%	     0.000	        1
	                 RESHAPE	        1	     0.018	     0.349%	   100.000%	     0.000	        1

Timings (microseconds): count=188 first=7003 curr=5161 min=4991 max=7003 avg=5153.1 std=201
Memory (bytes): count=0
3 nodes observed

)bm";

const std::string kXnnpackTf26 = R"bm(INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=203 first=3412 curr=2391 min=2300 max=3412 avg=2460.1 std=150

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=410 first=2444 curr=2371 min=2290 max=3101 avg=2431.77 std=97

INFO: Inference timings in us: Init: 21050, First inference: 3412, Warmup (avg): 2460.1, Inference (avg): 2431.77
INFO: Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
	             [node type]	          [start]	  [first]	 [avg ms]	     [%]	  [cdf%]	  [mem KB]	[times called]	[Name]
	   TfLiteXNNPackDelegate	            0.000	    2.873	    2.301	 99.610%	 99.610%	     0.000	        1	[regressors, classificators]:164
	        DelegateOpInvoke	            2.301	    0.311	    0.240	 10.390%	110.000%	     0.000	        1	Delegate/Convolution (NHWC, F32) IGEMM:0
	        DelegateOpInvoke	            2.541	    0.122	    0.097	  4.199%	114.199%	     0.000	        1	Delegate/Convolution (NHWC, F32) DWConv:1
	        DelegateOpInvoke	            2.638	    0.019	    0.015	  0.649%	114.848%	     0.000	        1	Delegate/Add (ND, F32):2
	                 RESHAPE	            2.653	    0.011	    0.009	  0.390%	115.238%	     0.000	        1	[reshaped_classificators]:165

============================== Top by Computation Time ==============================
	             [node type]	          [start]	  [first]	 [avg ms]	     [%]	  [cdf%]	  [mem KB]	[times called]	[Name]
	   TfLiteXNNPackDelegate	            0.000	    2.873	    2.301	 99.610%	 99.610%	     0.000	        1	[regressors, classificators]:164
	        DelegateOpInvoke	            2.301	    0.311	    0.240	 10.390%	110.000%	     0.000	        1	Delegate/Convolution (NHWC, F32) IGEMM:0
	        DelegateOpInvoke	            2.541	    0.122	    0.097	  4.199%	114.199%	     0.000	        1	Delegate/Convolution (NHWC, F32) DWConv:1
	        DelegateOpInvoke	            2.638	    0.019	    0.015	  0.649%	114.848%	     0.000	        1	Delegate/Add (ND, F32):2
	                 RESHAPE	            2.653	    0.011	    0.009	  0.390%	115.238%	     0.000	        1	[reshaped_classificators]:165

Number of nodes executed: 5
============================== Summary by node type ==============================
	             [Node type]	  [count]	  [avg ms]	    [avg %]	    [cdf %]	  [mem KB]	[times called]
	   TfLiteXNNPackDelegate	        1	     2.301	    86.439%	    86.439%	     0.000	        1
	        DelegateOpInvoke	        3	     0.352	    13.223%	    99.662%	     0.000	        3
	                 RESHAPE	        1	     0.009	     0.338%	   100.000%	     0.000	        1

Timings (microseconds): count=410 first=2901 curr=2325 min=2279 max=2901 avg=2310.5 std=61
Memory (bytes): count=0
5 nodes observed

)bm";

const std::string kLiteRt = R"bm(INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Num threads: [2]
INFO: Graph: [/data/local/tmp/model.tflite]
INFO: Enable op profiling: [1]
INFO: #threads used for CPU inference: [2]
INFO: Loaded model /data/local/tmp/model.tflite
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
INFO: The input model file size (MB): 4.56118
INFO: Initialized session in 32.163ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=32 first=19834 curr=15648 min=14936 max=21608 avg=15997.4 std=1663

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=64 first=16067 curr=15102 min=14661 max=17579 avg=15517.6 std=551

INFO: Inference timings in us: Init: 32163, First inference: 19834, Warmup (avg): 15997.4, Inference (avg): 15517.6
INFO: Operator-wise Profiling Info for Regular Benchmark Runs:
Primary graph profile:
============================== Run Order ==============================
	             [node type]	  [first]	 [avg ms]	     [%]	  [cdf%]	  [mem KB]	[times called]	[Name]
	Convolution (NHWC, F32) IGEMM	    0.398	    0.407	 25.694%	 25.694%	     0.000	        1	Delegate/Convolution (NHWC, F32) IGEMM:0
	Convolution (NHWC, F32) DWConv	    0.428	    0.051	 41.856%	 67.551%	     0.000	       13	Delegate/Convolution (NHWC, F32) DWConv:1
	Convolution (NHWC, F32) GEMM	    0.125	    0.023	 18.876%	 86.427%	     0.000	       13	Delegate/Convolution (NHWC, F32) GEMM:2
	                   WHILE	    0.210	    0.198	 12.500%	 98.927%	     0.000	        1	[while_out]:3
	Fully Connected (NC, F32) GEMM	    0.019	    0.017	  1.073%	100.000%	     0.000	        1	Delegate/Fully Connected (NC, F32) GEMM:4

============================== Top by Computation Time ==============================
	             [node type]	  [first]	 [avg ms]	     [%]	  [cdf%]	  [mem KB]	[times called]	[Name]
	Convolution (NHWC, F32) IGEMM	    0.398	    0.407	 25.694%	 25.694%	     0.000	        1	Delegate/Convolution (NHWC, F32) IGEMM:0
	                   WHILE	    0.210	    0.198	 12.500%	 38.194%	     0.000	        1	[while_out]:3
	Convolution (NHWC, F32) DWConv	    0.428	    0.051	 41.856%	 80.051%	     0.000	       13	Delegate/Convolution (NHWC, F32) DWConv:1
	Convolution (NHWC, F32) GEMM	    0.125	    0.023	 18.876%	 98.927%	     0.000	       13	Delegate/Convolution (NHWC, F32) GEMM:2
	Fully Connected (NC, F32) GEMM	    0.019	    0.017	  1.073%	100.000%	     0.000	        1	Delegate/Fully Connected (NC, F32) GEMM:4

Number of nodes executed: 5
============================== Summary by node type ==============================
	             [Node type]	  [count]	  [avg ms]	    [avg %]	    [cdf %]	  [mem KB]	[times called]
	Convolution (NHWC, F32) DWConv	        1	     0.663	    41.856%	    41.856%	     0.000	       13
	Convolution (NHWC, F32) IGEMM	        1	     0.407	    25.694%	    67.551%	     0.000	        1
	Convolution (NHWC, F32) GEMM	        1	     0.299	    18.876%	    86.427%	     0.000	       13
	                   WHILE	        1	     0.198	    12.500%	    98.927%	     0.000	        1
	Fully Connected (NC, F32) GEMM	        1	     0.017	     1.073%	   100.000%	     0.000	        1

Timings (microseconds): count=64 first=1563 curr=1501 min=1482 max=1702 avg=1518.2 std=41
Memory (bytes): count=0
5 nodes observed

Subgraph (index: 1) profile:
============================== Run Order ==============================
	             [node type]	  [first]	 [avg ms]	     [%]	  [cdf%]	  [mem KB]	[times called]	[Name]
	                     ADD	    0.010	    0.009	 75.000%	 75.000%	     0.000	        1	[body/add]:0
	                    LESS	    0.004	    0.003	 25.000%	100.000%	     0.000	        1	[cond/less]:0

============================== Top by Computation Time ==============================
	             [node type]	  [first]	 [avg ms]	     [%]	  [cdf%]	  [mem KB]	[times called]	[Name]
	                     ADD	    0.010	    0.009	 75.000%	 75.000%	     0.000	        1	[body/add]:0
	                    LESS	    0.004	    0.003	 25.000%	100.000%	     0.000	        1	[cond/less]:0

Number of nodes executed: 2
============================== Summary by node type ==============================
	             [Node type]	  [count]	  [avg ms]	    [avg %]	    [cdf %]	  [mem KB]	[times called]
	                     ADD	        1	     0.009	    75.000%	    75.000%	     0.000	        1
	                    LESS	        1	     0.003	    25.000%	   100.000%	     0.000	        1

Subgraph (index: 1) Timings (microseconds): count=64 curr=12(all same)
Memory (bytes): count=0
2 nodes observed

Delegate internal: 
============================== Run Order ==============================
	             [node type]	  [first]	 [avg ms]	     [%]	  [cdf%]	  [mem KB]	[times called]	[Name]
	Convolution (NHWC, F32) IGEMM	    0.398	    0.407	 25.694%	 25.694%	     0.000	        1	Delegate/Convolution (NHWC, F32) IGEMM:0
	Convolution (NHWC, F32) DWConv	    0.428	    0.051	 41.856%	 67.551%	     0.000	       13	Delegate/Convolution (NHWC, F32) DWConv:1
	Convolution (NHWC, F32) GEMM	    0.125	    0.023	 18.876%	 86.427%	     0.000	       13	Delegate/Convolution (NHWC, F32) GEMM:2

============================== Top by Computation Time ==============================
	             [node type]	  [first]	 [avg ms]	     [%]	  [cdf%]	  [mem KB]	[times called]	[Name]
	Convolution (NHWC, F32) IGEMM	    0.398	    0.407	 25.694%	 25.694%	     0.000	        1	Delegate/Convolution (NHWC, F32) IGEMM:0
	Convolution (NHWC, F32) DWConv	    0.428	    0.051	 41.856%	 67.551%	     0.000	       13	Delegate/Convolution (NHWC, F32) DWConv:1
	Convolution (NHWC, F32) GEMM	    0.125	    0.023	 18.876%	 86.427%	     0.000	       13	Delegate/Convolution (NHWC, F32) GEMM:2

Number of nodes executed: 3
============================== Summary by node type ==============================
	             [Node type]	  [count]	  [avg ms]	    [avg %]	    [cdf %]	  [mem KB]	[times called]
	Convolution (NHWC, F32) DWConv	        1	     0.663	    48.430%	    48.430%	     0.000	       13
	Convolution (NHWC, F32) IGEMM	        1	     0.407	    29.730%	    78.159%	     0.000	        1
	Convolution (NHWC, F32) GEMM	        1	     0.299	    21.841%	   100.000%	     0.000	       13

Timings (microseconds): count=64 first=1102 curr=1043 min=1021 max=1190 avg=1050.7 std=30
Memory (bytes): count=0
3 nodes observed

)bm";

const std::string kCsvWithStart = R"bm(Profiling Info for Benchmark Initialization:
============================== Run Order ==============================
node type, start, first, avg_ms, %, cdf%, mem KB, times called, name
ModifyGraphWithDelegate, 0, 552.75, 552.75, 57.1371%, 57.1371%, 0, 1, ModifyGraphWithDelegate/0
AllocateTensors, 552.75, 414.653, 207.33, 42.8629%, 100%, 0, 2, AllocateTensors/0

============================== Top by Computation Time ==============================
node type, start, first, avg_ms, %, cdf%, mem KB, times called, name
ModifyGraphWithDelegate, 0, 552.75, 552.75, 57.1371%, 57.1371%, 0, 1, ModifyGraphWithDelegate/0
AllocateTensors, 552.75, 414.653, 207.33, 42.8629%, 100%, 0, 2, AllocateTensors/0

Number of nodes executed: 2
============================== Summary by node type ==============================
node type, count, avg_ms, avg %, cdf %, mem KB, times called
ModifyGraphWithDelegate, 1, 552.75, 57.1371%, 57.1371%, 0, 1
AllocateTensors, 1, 414.66, 42.8629%, 100%, 0, 2

Timings (microseconds): count=1 curr=967410
Memory (bytes): count=0
2 nodes observed


Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
node type, start, first, avg_ms, %, cdf%, mem KB, times called, name
TfLiteGpuDelegateV2, 0, 6.912, 5.104, 99.0491%, 99.0491%, 0, 1, [regressors, classificators]:164
RESHAPE, 5.104, 0.021, 0.018, 0.349311%, 99.3984%, 0, 1, [reshaped_classificators]:165
LOGISTIC, 5.122, 0.035, 0.031, 0.601591%, 100%, 0, 1, [scores]:166

============================== Top by Computation Time ==============================
node type, start, first, avg_ms, %, cdf%, mem KB, times called, name
TfLiteGpuDelegateV2, 0, 6.912, 5.104, 99.0491%, 99.0491%, 0, 1, [regressors, classificators]:164
LOGISTIC, 5.122, 0.035, 0.031, 0.601591%, 99.6507%, 0, 1, [scores]:166
RESHAPE, 5.104, 0.021, 0.018, 0.349311%, 100%, 0, 1, [reshaped_classificators]:165

Number of nodes executed: 3
============================== Summary by node type ==============================
node type, count, avg_ms, avg %, cdf %, mem KB, times called
TfLiteGpuDelegateV2, 1, 5.104, 99.0491%, 99.0491%, 0, 1
LOGISTIC, 1, 0.031, 0.601591%, 99.6507%, 0, 1
RESHAPE, 1, 0.018, 0.349311%, 100%, 0, 1

Timings (microseconds): count=188 first=7003 curr=5161 min=4991 max=7003 avg=5153.1 std=201
Memory (bytes): count=0
3 nodes observed

)bm";

const std::string kCsvNoStart = R"bm(Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
node type, first, avg_ms, %, cdf%, mem KB, times called, name
Convolution (NHWC, F32) IGEMM, 0.398, 0.407, 25.6944%, 25.6944%, 0, 1, Delegate/Convolution (NHWC	 F32) IGEMM:0
Convolution (NHWC, F32) DWConv, 0.428, 0.051, 41.8561%, 67.5505%, 0, 13, Delegate/Convolution (NHWC	 F32) DWConv:1
Convolution (NHWC, F32) GEMM, 0.125, 0.023, 18.8763%, 86.4268%, 0, 13, Delegate/Convolution (NHWC	 F32) GEMM:2
WHILE, 0.21, 0.198, 12.5%, 98.9268%, 0, 1, [while_out]:3
Fully Connected (NC, F32) GEMM, 0.019, 0.017, 1.07323%, 100%, 0, 1, Delegate/Fully Connected (NC	 F32) GEMM:4

============================== Top by Computation Time ==============================
node type, first, avg_ms, %, cdf%, mem KB, times called, name
Convolution (NHWC, F32) IGEMM, 0.398, 0.407, 25.6944%, 25.6944%, 0, 1, Delegate/Convolution (NHWC	 F32) IGEMM:0
WHILE, 0.21, 0.198, 12.5%, 38.1944%, 0, 1, [while_out]:3
Convolution (NHWC, F32) DWConv, 0.428, 0.051, 41.8561%, 80.0505%, 0, 13, Delegate/Convolution (NHWC	 F32) DWConv:1
Convolution (NHWC, F32) GEMM, 0.125, 0.023, 18.8763%, 98.9268%, 0, 13, Delegate/Convolution (NHWC	 F32) GEMM:2
Fully Connected (NC, F32) GEMM, 0.019, 0.017, 1.07323%, 100%, 0, 1, Delegate/Fully Connected (NC	 F32) GEMM:4

Number of nodes executed: 5
============================== Summary by node type ==============================
node type, count, avg_ms, avg %, cdf %, mem KB, times called
Convolution (NHWC, F32) DWConv, 1, 0.663, 41.8561%, 41.8561%, 0, 13
Convolution (NHWC, F32) IGEMM, 1, 0.407, 25.6944%, 67.5505%, 0, 1
Convolution (NHWC, F32) GEMM, 1, 0.299, 18.8763%, 86.4268%, 0, 13
WHILE, 1, 0.198, 12.5%, 98.9268%, 0, 1
Fully Connected (NC, F32) GEMM, 1, 0.017, 1.07323%, 100%, 0, 1

Timings (microseconds): count=64 first=1563 curr=1501 min=1482 max=1702 avg=1518.2 std=41
Memory (bytes): count=0
5 nodes observed

)bm";

std::string error_of(const std::string& text, ErrorKind* kind = nullptr) {
  try {
    parse(text, "model.tflite");
  } catch (const Error& e) {
    if (kind) *kind = e.kind();
    return e.what();
  }
  return "";
}

std::string run_error_of(const std::string& text, bool per_layer, ErrorKind* kind = nullptr) {
  try {
    to_run_result(parse(text, "model.tflite"), per_layer, "model.tflite");
  } catch (const Error& e) {
    if (kind) *kind = e.kind();
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  const auto pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) text.replace(pos, from.size(), to);
  return text;
}

const ProfileTable* table(const Output& out, Section section, int subgraph, const std::string& title) {
  for (const ProfileTable& t : out.tables) {
    if (t.section == section && t.subgraph == subgraph && t.title == title) return &t;
  }
  return nullptr;
}

TEST(BenchmarkModelParser, CurrentSummaryAndCountLines) {
  const Output out = parse(kCpuTf214);
  EXPECT_FALSE(out.legacy_summary);
  EXPECT_DOUBLE_EQ(*out.init_us, 14375);
  EXPECT_DOUBLE_EQ(*out.first_inference_us, 4046);
  EXPECT_DOUBLE_EQ(*out.warmup_avg_us, 2552.92);
  EXPECT_DOUBLE_EQ(*out.inference_avg_us, 2528.29);
  ASSERT_EQ(out.runs.size(), 2u);
  EXPECT_EQ(out.runs[0].count, 195);
  EXPECT_DOUBLE_EQ(out.runs[0].avg_us, 2552.92);
  const RunStats& timed = out.runs[1];
  EXPECT_EQ(timed.count, 394);
  EXPECT_DOUBLE_EQ(timed.first_us, 2475);
  EXPECT_DOUBLE_EQ(timed.curr_us, 2497);
  EXPECT_DOUBLE_EQ(timed.min_us, 2388);
  EXPECT_DOUBLE_EQ(timed.max_us, 3567);
  EXPECT_DOUBLE_EQ(timed.std_us, 121);
  EXPECT_TRUE(std::isnan(timed.median_us));
  EXPECT_EQ(out.threads, 4);
  EXPECT_TRUE(out.tables.empty());

  const RunResult r = to_run_result(out, false);
  EXPECT_EQ(r.runtime, "benchmark_model");
  EXPECT_EQ(r.runtime_version, "unknown");
  EXPECT_EQ(r.threads, 4);
  EXPECT_EQ(r.latency_ms.n, 394u);
  EXPECT_DOUBLE_EQ(r.latency_ms.mean, 2.52829);
  EXPECT_DOUBLE_EQ(r.latency_ms.median, 2.52829);  // not printed by the tool: the mean
  EXPECT_DOUBLE_EQ(r.latency_ms.min, 2.388);
  EXPECT_DOUBLE_EQ(r.latency_ms.max, 3.567);
  // The tool's population std, as the sample std infercast reports.
  EXPECT_NEAR(r.latency_ms.std, 0.121 * std::sqrt(394.0 / 393.0), 1e-12);
  EXPECT_NEAR(r.latency_ms.cv, r.latency_ms.std / 2.52829, 1e-12);
  EXPECT_TRUE(r.layers.empty());

  ErrorKind kind{};
  const std::string message = run_error_of(kCpuTf214, true, &kind);
  EXPECT_EQ(kind, ErrorKind::kUnsupported);
  EXPECT_TRUE(contains(message, "--enable_op_profiling=true")) << message;
}

TEST(BenchmarkModelParser, LegacySummaryAndTablesWithStartColumn) {
  const Output out = parse(kLegacyTf113);
  EXPECT_TRUE(out.legacy_summary);
  EXPECT_DOUBLE_EQ(*out.warmup_avg_us, 86184.3);
  EXPECT_DOUBLE_EQ(*out.init_us, 1892);
  EXPECT_DOUBLE_EQ(*out.inference_avg_us, 115062);  // printed as "no stats:" by TF 1.13
  EXPECT_FALSE(out.first_inference_us.has_value());
  EXPECT_EQ(out.threads, 1);
  ASSERT_EQ(out.tables.size(), 4u);
  const ProfileTable* order = table(out, Section::kRegular, 0, "Run Order");
  ASSERT_NE(order, nullptr);
  EXPECT_TRUE(order->has_start);
  EXPECT_FALSE(order->csv);
  ASSERT_EQ(order->rows.size(), 6u);
  const ProfileRow& dw = order->rows[1];
  EXPECT_EQ(dw.type, "DEPTHWISE_CONV_2D");
  EXPECT_EQ(dw.name, "[MobilenetV2/expanded_conv/depthwise/Relu6]");
  EXPECT_DOUBLE_EQ(dw.start_ms, 7.237);
  EXPECT_DOUBLE_EQ(dw.first_ms, 3.518);
  EXPECT_DOUBLE_EQ(dw.avg_ms, 3.726);
  EXPECT_DOUBLE_EQ(dw.percent, 24.730);
  EXPECT_DOUBLE_EQ(dw.cdf_percent, 72.762);
  EXPECT_DOUBLE_EQ(dw.mem_kb, 0);
  EXPECT_EQ(dw.times_called, 1);
  EXPECT_DOUBLE_EQ(order->rows[5].cdf_percent, 100);  // "100.000%" overflows its column: no space before it
  ASSERT_NE(table(out, Section::kRegular, 0, "Top by Computation Time"), nullptr);
  ASSERT_NE(table(out, Section::kRegular, 0, "Top by Memory Use"), nullptr);
  const ProfileTable* by_type = table(out, Section::kRegular, 0, "Summary by node type");
  ASSERT_NE(by_type, nullptr);
  ASSERT_EQ(by_type->rows.size(), 5u);
  EXPECT_EQ(by_type->rows[0].type, "CONV_2D");
  EXPECT_EQ(by_type->rows[0].count, 2);
  EXPECT_DOUBLE_EQ(by_type->rows[0].avg_ms, 10.948);
  EXPECT_DOUBLE_EQ(by_type->rows[0].percent, 72.662);
  EXPECT_EQ(by_type->rows[0].times_called, 2);
  ASSERT_EQ(out.totals.size(), 1u);
  EXPECT_EQ(out.totals[0].timings.count, 50);
  EXPECT_DOUBLE_EQ(out.totals[0].timings.avg_us, 112648);

  const RunResult r = to_run_result(out, true);
  EXPECT_EQ(r.latency_ms.n, 50u);
  EXPECT_DOUBLE_EQ(r.latency_ms.mean, 115.062);
  ASSERT_EQ(r.layers.size(), 6u);
  EXPECT_EQ(r.layers[0].op, "CONV_2D");
  EXPECT_EQ(r.layers[0].name, "[MobilenetV2/Conv/Relu6]");
  EXPECT_DOUBLE_EQ(r.layers[0].ms.mean, 7.237);
  EXPECT_DOUBLE_EQ(r.layers[0].ms.median, 7.237);
  EXPECT_EQ(r.layers[0].ms.n, 50u);             // the profiled runs
  EXPECT_TRUE(std::isnan(r.layers[0].ms.min));  // not printed per node
  EXPECT_EQ(r.layers[5].name, "[output]");
}

TEST(BenchmarkModelParser, GpuDelegatePartitionIsOneNodeAndInitSectionIsNotALayer) {
  const Output out = parse(kGpuTf28);
  const ProfileTable* init = table(out, Section::kInit, 0, "Run Order");
  ASSERT_NE(init, nullptr);
  ASSERT_EQ(init->rows.size(), 2u);
  EXPECT_EQ(init->rows[1].type, "AllocateTensors");
  EXPECT_EQ(init->rows[1].times_called, 2);
  EXPECT_DOUBLE_EQ(init->rows[1].avg_ms, 207.330);
  EXPECT_DOUBLE_EQ(init->rows[1].start_ms, 552.750);

  const RunResult r = to_run_result(out, true, "face_detection_short_range.tflite");
  EXPECT_EQ(r.latency_ms.n, 188u);
  EXPECT_DOUBLE_EQ(r.latency_ms.mean, 5.31974);
  ASSERT_EQ(r.layers.size(), 3u);
  EXPECT_EQ(r.layers[0].op, "TfLiteGpuDelegateV2");
  EXPECT_EQ(r.layers[0].name, "[regressors, classificators]:164");  // two outputs, one node
  EXPECT_DOUBLE_EQ(r.layers[0].ms.mean, 5.104);
  EXPECT_EQ(r.layers[1].op, "RESHAPE");
  EXPECT_EQ(r.layers[2].op, "LOGISTIC");
  EXPECT_DOUBLE_EQ(r.layers[2].ms.mean, 0.031);
  EXPECT_EQ(r.layers[2].ms.n, 188u);
}

TEST(BenchmarkModelParser, OpsInsideADelegatePartitionAreDroppedWhenThePartitionHasARow) {
  const Output out = parse(kXnnpackTf26);
  const ProfileTable* order = table(out, Section::kRegular, 0, "Run Order");
  ASSERT_NE(order, nullptr);
  ASSERT_EQ(order->rows.size(), 5u);
  EXPECT_EQ(order->rows[1].type, "DelegateOpInvoke");
  EXPECT_EQ(order->rows[1].name, "Delegate/Convolution (NHWC, F32) IGEMM:0");
  const RunResult r = to_run_result(out, true);
  ASSERT_EQ(r.layers.size(), 2u);
  EXPECT_EQ(r.layers[0].op, "TfLiteXNNPackDelegate");
  EXPECT_DOUBLE_EQ(r.layers[0].ms.mean, 2.301);
  EXPECT_EQ(r.layers[1].op, "RESHAPE");
}

TEST(BenchmarkModelParser, LiteRtWithoutStartColumnSubgraphsAndDelegateInternalSection) {
  const Output out = parse(kLiteRt);
  EXPECT_EQ(out.threads, 2);
  const ProfileTable* order = table(out, Section::kRegular, 0, "Run Order");
  ASSERT_NE(order, nullptr);
  EXPECT_FALSE(order->has_start);
  ASSERT_EQ(order->rows.size(), 5u);
  EXPECT_TRUE(std::isnan(order->rows[0].start_ms));
  EXPECT_EQ(order->rows[1].type, "Convolution (NHWC, F32) DWConv");  // spaces and a comma in the type
  const ProfileTable* body = table(out, Section::kRegular, 1, "Run Order");
  ASSERT_NE(body, nullptr);
  EXPECT_EQ(body->rows.size(), 2u);
  EXPECT_NE(table(out, Section::kDelegateInternal, 0, "Run Order"), nullptr);
  ASSERT_EQ(out.totals.size(), 3u);
  EXPECT_EQ(out.totals[1].subgraph, 1);
  EXPECT_DOUBLE_EQ(out.totals[1].timings.avg_us, 12);  // "count=64 curr=12(all same)"
  EXPECT_DOUBLE_EQ(out.totals[1].timings.std_us, 0);

  const RunResult r = to_run_result(out, true);
  EXPECT_EQ(r.threads, 2);
  EXPECT_EQ(r.latency_ms.n, 64u);
  // No partition row: the delegate's own ops are the layers, primary graph only.
  ASSERT_EQ(r.layers.size(), 5u);
  EXPECT_EQ(r.layers[1].name, "Delegate/Convolution (NHWC, F32) DWConv:1");
  EXPECT_NEAR(r.layers[1].ms.mean, 0.051 * 13, 1e-12);  // per call x calls per run
  EXPECT_EQ(r.layers[3].op, "WHILE");
  EXPECT_EQ(r.layers[4].ms.n, 64u);
}

TEST(BenchmarkModelParser, CsvProfileWithStartColumnKeepsCommasInNames) {
  const Output out = parse(kCsvWithStart);
  const ProfileTable* order = table(out, Section::kRegular, 0, "Run Order");
  ASSERT_NE(order, nullptr);
  EXPECT_TRUE(order->csv);
  EXPECT_TRUE(order->has_start);
  ASSERT_EQ(order->rows.size(), 3u);
  EXPECT_EQ(order->rows[0].type, "TfLiteGpuDelegateV2");
  EXPECT_EQ(order->rows[0].name, "[regressors, classificators]:164");
  EXPECT_DOUBLE_EQ(order->rows[0].start_ms, 0);
  EXPECT_DOUBLE_EQ(order->rows[0].first_ms, 6.912);
  EXPECT_DOUBLE_EQ(order->rows[1].start_ms, 5.104);
  const ProfileTable* init = table(out, Section::kInit, 0, "Run Order");
  ASSERT_NE(init, nullptr);
  EXPECT_EQ(init->rows[1].name, "AllocateTensors/0");
  const ProfileTable* by_type = table(out, Section::kRegular, 0, "Summary by node type");
  ASSERT_NE(by_type, nullptr);
  EXPECT_EQ(by_type->rows.size(), 3u);
  // A profile file alone has no end-to-end timings.
  ErrorKind kind{};
  const std::string message = run_error_of(kCsvWithStart, true, &kind);
  EXPECT_EQ(kind, ErrorKind::kIo);
  EXPECT_TRUE(contains(message, "no summary line")) << message;
}

TEST(BenchmarkModelParser, CsvProfileWithoutStartColumnRestoresCommasTheWriterTurnedIntoTabs) {
  const Output out = parse(kCsvNoStart);
  const ProfileTable* order = table(out, Section::kRegular, 0, "Run Order");
  ASSERT_NE(order, nullptr);
  EXPECT_TRUE(order->csv);
  EXPECT_FALSE(order->has_start);
  ASSERT_EQ(order->rows.size(), 5u);
  EXPECT_EQ(order->rows[0].type, "Convolution (NHWC, F32) IGEMM");
  EXPECT_EQ(order->rows[0].name, "Delegate/Convolution (NHWC, F32) IGEMM:0");
  EXPECT_DOUBLE_EQ(order->rows[1].avg_ms, 0.051);
  EXPECT_EQ(order->rows[1].times_called, 13);
  const ProfileTable* by_type = table(out, Section::kRegular, 0, "Summary by node type");
  ASSERT_NE(by_type, nullptr);
  EXPECT_EQ(by_type->rows.size(), 5u);
}

TEST(BenchmarkModelParser, OldestOutputAndAllSameSamples) {
  // TF 1.12 (the i.MX / Yocto builds still ship it): one warm-up run, "no stats:".
  const std::string tf112 = R"bm(STARTING!
Num runs: [50]
Inter-run delay (seconds): [-1]
Num threads: [1]
Benchmark name: []
Output prefix: []
Warmup runs: [1]
Graph: [mobilenet_v1_1.0_224_quant.tflite]
Input layers: []
Input shapes: []
Use nnapi : [0]
Loaded model mobilenet_v1_1.0_224_quant.tflite
resolved reporter
Initialized session in 4.452ms
Running benchmark for 1 iterations
count=1 curr=146161

Running benchmark for 50 iterations
count=50 first=137789 curr=137254 min=137079 max=143416 avg=137722 std=896

Average inference timings in us: Warmup: 146161, Init: 4452, no stats: 137722
)bm";
  const RunResult r = to_run_result(parse(tf112), false);
  EXPECT_EQ(r.latency_ms.n, 50u);
  EXPECT_DOUBLE_EQ(r.latency_ms.min, 137.079);

  // Stat::OutputToStream when every sample is the same.
  const std::string same = R"bm(INFO: count=1 curr=1500

INFO: count=64 curr=1500(all same)

INFO: Inference timings in us: Init: 900, First inference: 1500, Warmup (avg): 1500, Inference (avg): 1500
)bm";
  const RunResult s = to_run_result(parse(same), false);
  EXPECT_EQ(s.latency_ms.n, 64u);
  EXPECT_DOUBLE_EQ(s.latency_ms.min, 1.5);
  EXPECT_DOUBLE_EQ(s.latency_ms.max, 1.5);
  EXPECT_DOUBLE_EQ(s.latency_ms.std, 0);
}

TEST(BenchmarkModelParser, LogcatSummaryAndNoWarmup) {
  // The Android benchmark app logs to logcat; the summary alone has no n or spread.
  const std::string logcat =
      "11-22 10:15:32.123  5678  5678 I tflite  : Average inference timings in us: Warmup: 91471, Init: 4108, "
      "Inference: 80660.1\n";
  const Output out = parse(logcat);
  EXPECT_DOUBLE_EQ(*out.warmup_avg_us, 91471);
  EXPECT_DOUBLE_EQ(*out.init_us, 4108);
  EXPECT_DOUBLE_EQ(*out.inference_avg_us, 80660.1);
  EXPECT_TRUE(contains(run_error_of(logcat, false), "no count= line")) << run_error_of(logcat, false);

  // --warmup_runs=0 --warmup_min_secs=0: an empty warm-up prints count=0 and a nan average.
  const std::string no_warmup = R"bm(INFO: count=0

INFO: count=50 first=2475 curr=2497 min=2388 max=3567 avg=2528.29 std=121

INFO: Inference timings in us: Init: 14375, First inference: 0, Warmup (avg): -nan, Inference (avg): 2528.29
)bm";
  const Output nw = parse(no_warmup);
  EXPECT_FALSE(nw.warmup_avg_us.has_value());
  EXPECT_EQ(to_run_result(nw, false).latency_ms.n, 50u);
}

TEST(BenchmarkModelParser, VersionLineWhenTheToolPrintsOne) {
  const std::string text = "INFO: The TFLite runtime version: 2.16.1\n" + kCpuTf214;
  EXPECT_EQ(to_run_result(parse(text), false).runtime_version, "2.16.1");
}

// --- hostile output ---------------------------------------------------------------

TEST(BenchmarkModelParser, NoResultQuotesTheLastLine) {
  ErrorKind kind{};
  EXPECT_TRUE(contains(error_of("", &kind), "(no output)"));
  EXPECT_EQ(kind, ErrorKind::kIo);
  const std::string failed = R"bm(INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Graph: [/data/local/tmp/missing.tflite]
ERROR: Could not open '/data/local/tmp/missing.tflite'.
ERROR: Failed to mmap model /data/local/tmp/missing.tflite
INFO: Benchmarking failed.
)bm";
  const std::string message = error_of(failed);
  EXPECT_TRUE(contains(message, "model.tflite: benchmark_model output: no benchmark result")) << message;
  EXPECT_TRUE(contains(message, "'ERROR: Failed to mmap model /data/local/tmp/missing.tflite'")) << message;
}

TEST(BenchmarkModelParser, TruncatedInsideARowQuotesIt) {
  const std::string text = kLegacyTf113.substr(0, kLegacyTf113.find("[MobilenetV2/expanded_conv/project") - 20);
  const std::string message = error_of(text);
  const auto line_no = std::count(text.begin(), text.end(), '\n') + 1;
  EXPECT_TRUE(contains(message, "benchmark_model output line " + std::to_string(line_no) + ":")) << message;
  EXPECT_TRUE(contains(message, "not a row of it")) << message;
  EXPECT_TRUE(contains(message, "CONV_2D")) << message;
}

TEST(BenchmarkModelParser, TruncatedBetweenRowsIsCaught) {
  const auto regular = kGpuTf28.find("Operator-wise");
  const auto cut = kGpuTf28.find("RESHAPE", regular);
  const std::string text = kGpuTf28.substr(0, kGpuTf28.rfind('\n', cut) + 1);
  const std::string message = error_of(text);
  EXPECT_TRUE(contains(message, "no 'Timings (microseconds)' line after it (truncated?)")) << message;
  // Cut before the summary line: the counts are there, the run never finished.
  const std::string early = kCpuTf214.substr(0, kCpuTf214.find("INFO: Inference timings"));
  EXPECT_TRUE(contains(run_error_of(early, false), "no summary line")) << run_error_of(early, false);
}

TEST(BenchmarkModelParser, RowsMissingFromTheRunOrderAreCaught) {
  const std::string row_line = kLegacyTf113.substr(kLegacyTf113.find("\t                     ADD"));
  const std::string text = replace_once(kLegacyTf113, row_line.substr(0, row_line.find('\n') + 1), "");
  EXPECT_TRUE(contains(error_of(text), "Run Order has 5 rows but 'Number of nodes executed' says 6")) << error_of(text);
}

TEST(BenchmarkModelParser, InterleavedOutputIsCaught) {
  EXPECT_TRUE(contains(error_of(kCpuTf214 + kCpuTf214), "two runs interleaved")) << error_of(kCpuTf214 + kCpuTf214);
  const std::string two_summaries =
      kCpuTf214 + "INFO: Inference timings in us: Init: 1, First inference: 2, Warmup (avg): 3, Inference (avg): 4\n";
  EXPECT_TRUE(contains(error_of(two_summaries), "a second summary line")) << error_of(two_summaries);
  // adb's chatter inside a table.
  const std::string chatter = replace_once(kGpuTf28, "\t                 RESHAPE",
                                           "adb: device 'emulator-5554' not found\n\t                 RESHAPE");
  const std::string message = error_of(chatter);
  EXPECT_TRUE(contains(message, "'adb: device 'emulator-5554' not found'")) << message;
  EXPECT_TRUE(contains(message, "not a row")) << message;
  // The count line of one run and the summary of another.
  const std::string mixed = replace_once(kCpuTf214, "Inference (avg): 2528.29", "Inference (avg): 2600.5");
  EXPECT_TRUE(contains(error_of(mixed), "disagrees with the summary")) << error_of(mixed);
  const std::string profiles = kGpuTf28 + kGpuTf28.substr(kGpuTf28.find("INFO: Operator-wise"));
  EXPECT_TRUE(contains(error_of(profiles), "a second 'Run Order' table")) << error_of(profiles);
}

TEST(BenchmarkModelParser, MissingFieldsAreCaught) {
  const std::string no_std = replace_once(kCpuTf214, " avg=2528.29 std=121", " avg=2528.29");
  EXPECT_TRUE(contains(error_of(no_std), "without std=")) << error_of(no_std);
  const std::string no_inference = replace_once(kCpuTf214, ", Inference (avg): 2528.29", "");
  EXPECT_TRUE(contains(error_of(no_inference), "without Inference")) << error_of(no_inference);
  const std::string unknown = replace_once(kCpuTf214, "Warmup (avg): 2552.92", "Warmup (median): 2552.92");
  EXPECT_TRUE(contains(error_of(unknown), "unknown field 'Warmup (median)'")) << error_of(unknown);
  const std::string no_header = replace_once(kLegacyTf113, "\t             [Node type]", "\tgarbage");
  EXPECT_TRUE(contains(error_of(no_header), "without its header")) << error_of(no_header);
  const std::string bad_title = replace_once(kLegacyTf113, "Top by Memory Use", "Top by Energy");
  EXPECT_TRUE(contains(error_of(bad_title), "an unknown profiling table")) << error_of(bad_title);
}

TEST(BenchmarkModelParser, AbsurdNumbersAreCaught) {
  for (const auto& [from, to, expected] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"avg=2528.29 std=121", "avg=1e+20 std=121", "more than a day"},
           {"min=2388", "min=-2388", "negative"},
           {"min=2388", "min=nan", "not a number"},
           {"min=2388 max=3567", "min=3567 max=2388", "min > max"},
           {"count=394", "count=-394", "bad count"},
           {"count=394", "count=1", "one sample and a spread"},
           {"first=2475", "first=9999", "outside [min, max]"},
           {"std=121", "std=99999", "std larger than max - min"},
           {"Init: 14375", "Init: inf", "not a number"},
       }) {
    const std::string text = replace_once(kCpuTf214, from, to);
    const std::string message = error_of(text);
    EXPECT_TRUE(contains(message, expected)) << to << " -> " << message;
  }
  const std::string negative_row = replace_once(kGpuTf28, "    5.104", "   -5.104");
  EXPECT_TRUE(contains(error_of(negative_row), "negative, not a number or absurd")) << error_of(negative_row);
  const std::string nan_row = replace_once(kGpuTf28, "    5.104", "      nan");
  EXPECT_TRUE(contains(error_of(nan_row), "negative, not a number or absurd")) << error_of(nan_row);
}

TEST(BenchmarkModelParser, BinaryGarbageIsCaught) {
  const std::string text = replace_once(kCpuTf214, "INFO: Loaded model",
                                        std::string("\x7f"
                                                    "ELF\x02\x01",
                                                    6));
  const std::string message = error_of(text);
  EXPECT_TRUE(contains(message, "control characters")) << message;
  EXPECT_TRUE(contains(message, "line 6")) << message;
}

TEST(BenchmarkModelParser, CarriageReturnsFromAnAdbTerminalAreLineEnds) {
  // `adb shell` with a pty ends lines with \r\n.
  std::string crlf;
  for (char c : kGpuTf28) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  const RunResult r = to_run_result(parse(crlf), true);
  ASSERT_EQ(r.layers.size(), 3u);
  EXPECT_EQ(r.layers[2].name, "[scores]:166");
  EXPECT_EQ(r.latency_ms.n, 188u);
}

TEST(BenchmarkModelParser, ThousandsOfSubgraphSectionsParse) {
  // Hostile scale: the bookkeeping per table is a set lookup, not a scan of the others.
  std::string text = kCpuTf214 + "INFO: Operator-wise Profiling Info for Regular Benchmark Runs:\n";
  for (int i = 1; i <= 5000; ++i) {
    text += "Subgraph (index: " + std::to_string(i) + ") profile:\n";
    text += "============================== Run Order ==============================\n";
    text += "node type, first, avg_ms, %, cdf%, mem KB, times called, name\n";
    text += "ADD, 0.01, 0.01, 100%, 100%, 0, 1, [add]:0\n\n";
    text += "Subgraph (index: " + std::to_string(i) + ") Timings (microseconds): count=1 curr=10\n";
  }
  const Output out = parse(text);
  EXPECT_EQ(out.tables.size(), 5000u);
  EXPECT_EQ(out.totals.size(), 5000u);
  EXPECT_EQ(out.tables.back().subgraph, 5000);
}

TEST(BenchmarkModelParser, EveryPrefixParsesOrFailsWithAnError) {
  // Output cut at any byte: a clean result or one infercast::Error, never anything else.
  for (const std::string* sample : {&kGpuTf28, &kLiteRt, &kCsvNoStart}) {
    for (std::size_t n = 0; n <= sample->size(); ++n) {
      try {
        const Output out = parse(sample->substr(0, n));
        to_run_result(out, true);
      } catch (const Error&) {
      }
    }
  }
}

}  // namespace
}  // namespace infercast::runtime::benchmark_model
