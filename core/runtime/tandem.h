/* Tandem C API: a stable, exception-free surface for FFI (Python ctypes, Rust,
 * Swift, C#). Every call returns a tandem_status; on failure,
 * tandem_last_error() holds a message a user can act on (per thread). */
#ifndef TANDEM_H_
#define TANDEM_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tandem_status {
  TANDEM_OK = 0,
  TANDEM_INVALID_ARGUMENT = 1,
  TANDEM_INVALID_MODEL = 2,
  TANDEM_UNSUPPORTED = 3,
  TANDEM_OUT_OF_MEMORY = 4,
  TANDEM_NOT_FOUND = 5,
  TANDEM_IO_ERROR = 6,
  TANDEM_INTERNAL = 7,
  TANDEM_UNAVAILABLE = 8,
  TANDEM_DEADLINE_EXCEEDED = 9
} tandem_status;

/* Element types use ONNX TensorProto numbering (1 = float32, 7 = int64, ...). */
typedef struct tandem_session tandem_session;
typedef struct tandem_tensor tandem_tensor;

const char* tandem_last_error(void);

tandem_status tandem_session_load_file(const char* path, tandem_session** out);
tandem_status tandem_session_load_bytes(const void* data, size_t size, tandem_session** out);
void tandem_session_free(tandem_session* session);

/* Load options. Fill with tandem_session_options_init, then set what you need; struct_size lets
 * the struct grow without breaking older callers. */
typedef struct tandem_session_options {
  uint32_t struct_size;        /* sizeof(tandem_session_options) */
  int32_t threads;             /* 0 = one per core, 1 = the caller's thread only */
  int32_t optimize;            /* 1 = graph fusions (default), 0 = run the graph as written */
  int32_t reserved;
  /* 0 = no limit. Otherwise loading fails with TANDEM_OUT_OF_MEMORY, before any weight is
   * packed for a backend, when the memory plan (symbolic dimensions taken as 1) needs more. */
  uint64_t memory_limit_bytes;
} tandem_session_options;

void tandem_session_options_init(tandem_session_options* options);
tandem_status tandem_session_load_bytes_with(const void* data, size_t size, const tandem_session_options* options,
                                             tandem_session** out);
tandem_status tandem_session_load_file_with(const char* path, const tandem_session_options* options,
                                            tandem_session** out);

/* Declared type of input/output `index` (is_output selects which). dtype 0 = not a tensor or
 * unknown; rank -1 = unknown; dim -1 = symbolic (its name from tandem_session_io_dim_name, or ""). */
int32_t tandem_session_io_dtype(const tandem_session* session, int32_t is_output, size_t index);
int32_t tandem_session_io_rank(const tandem_session* session, int32_t is_output, size_t index);
int64_t tandem_session_io_dim(const tandem_session* session, int32_t is_output, size_t index, size_t axis);
const char* tandem_session_io_dim_name(const tandem_session* session, int32_t is_output, size_t index, size_t axis);

/* Where the last planned shapes run, one line per partition ("xnnpack: 64 nodes"). The string
 * lives until the next call on this session. */
const char* tandem_session_placement(tandem_session* session);

/* Facts about the loaded model, one per line, fields separated by tabs: "ir_version\tN",
 * "producer\tNAME\tVERSION", "opset\tDOMAIN\tN" per opset, "nodes\tN" and "op\tOP\tCOUNT" per
 * operator of the graph as Tandem runs it (after its passes). Lives until the next call. */
const char* tandem_session_model_info(tandem_session* session);

/* The memory plan for concrete input shapes: shapes of all inputs in order, concatenated in
 * `dims`, with ranks[i] dims for input i. */
typedef struct tandem_memory_facts {
  uint64_t weight_bytes;
  uint64_t arena_bytes;
  uint64_t input_bytes;
  uint64_t output_bytes;
  uint64_t peak_bytes;
} tandem_memory_facts;
tandem_status tandem_session_memory_facts(tandem_session* session, const int64_t* dims, const size_t* ranks,
                                          size_t input_count, tandem_memory_facts* out);

size_t tandem_session_input_count(const tandem_session* session);
size_t tandem_session_output_count(const tandem_session* session);
const char* tandem_session_input_name(const tandem_session* session, size_t index);
const char* tandem_session_output_name(const tandem_session* session, size_t index);

/* Copies data into a new tensor. */
tandem_status tandem_tensor_create(int32_t dtype, const int64_t* shape, size_t rank, const void* data,
                                   size_t data_bytes, tandem_tensor** out);
void tandem_tensor_free(tandem_tensor* tensor);
int32_t tandem_tensor_dtype(const tandem_tensor* tensor);
size_t tandem_tensor_rank(const tandem_tensor* tensor);
const int64_t* tandem_tensor_shape(const tandem_tensor* tensor);
const void* tandem_tensor_data(const tandem_tensor* tensor);
size_t tandem_tensor_byte_size(const tandem_tensor* tensor);

/* Runs with inputs in the session's input order; fills outputs[i] (caller frees
 * each with tandem_tensor_free) in the session's output order. */
tandem_status tandem_session_run(tandem_session* session, const tandem_tensor* const* inputs, size_t input_count,
                                 tandem_tensor** outputs, size_t output_count);

/* ---- hybrid sessions: one run() that goes local or remote (core/route/hybrid_session.h) ---- */

typedef enum tandem_placement_mode {
  TANDEM_PREFER_LOCAL = 0, /* the default: local when it fits, the remote behind it */
  TANDEM_LOCAL_ONLY = 1,
  TANDEM_PREFER_REMOTE = 2,
  TANDEM_REMOTE_ONLY = 3
} tandem_placement_mode;

typedef enum tandem_side { TANDEM_SIDE_NONE = 0, TANDEM_SIDE_LOCAL = 1, TANDEM_SIDE_REMOTE = 2 } tandem_side;

typedef struct tandem_hybrid tandem_hybrid;

typedef enum tandem_route_event {
  TANDEM_ROUTE_PLACED = 0,   /* the default placement was decided (or changed) */
  TANDEM_ROUTE_FALLBACK = 1, /* a call failed on one side and goes to `side` */
  TANDEM_ROUTE_RAN = 2       /* a call finished on `side` */
} tandem_route_event;

/* kind: a tandem_route_event; side: a tandem_side. */
typedef void (*tandem_route_callback)(void* user_data, int32_t kind, int32_t side, const char* reason);

/* Fill with tandem_hybrid_options_init. Strings are copied; NULL or "" = unset. */
typedef struct tandem_hybrid_options {
  uint32_t struct_size;        /* sizeof(tandem_hybrid_options) */
  int32_t mode;                /* tandem_placement_mode */
  int32_t privacy;             /* 1 = never contact the remote (not even for metadata) */
  int32_t threads;             /* local: 0 = one per core */
  int32_t deadline_ms;         /* default per-call deadline; 0 = the remote's timeout */
  uint64_t memory_cap_bytes;   /* 0 = the device's own budget (cgroup-aware) */
  const char* remote_url;      /* "http://host:8000"; NULL = no remote */
  const char* remote_model;    /* the model's name on the server */
  const char* remote_version;
  const char* api_key;
  const char* ca_file;
  int32_t binary;              /* 1 = binary tensor extension (default), 0 = JSON */
  int32_t retries;             /* only where the model provably did not run; default 2 */
  /* Optional: told where calls are placed, each fallback and where each run ran, as it happens
   * (the onRoute hook). Called on the thread that opens or runs; `reason` lives for the call. */
  tandem_route_callback on_route;
  void* on_route_user_data;
} tandem_hybrid_options;

void tandem_hybrid_options_init(tandem_hybrid_options* options);
/* `path` may be NULL or "" when the model exists only on the server. */
tandem_status tandem_hybrid_open(const char* path, const tandem_hybrid_options* options, tandem_hybrid** out);
void tandem_hybrid_free(tandem_hybrid* hybrid);

/* Where calls go by default (a tandem_side) and why; the string lives until the next call. */
int32_t tandem_hybrid_placement_side(tandem_hybrid* hybrid);
const char* tandem_hybrid_placement_reason(tandem_hybrid* hybrid);

size_t tandem_hybrid_input_count(const tandem_hybrid* hybrid);
size_t tandem_hybrid_output_count(const tandem_hybrid* hybrid);
const char* tandem_hybrid_input_name(const tandem_hybrid* hybrid, size_t index);
const char* tandem_hybrid_output_name(const tandem_hybrid* hybrid, size_t index);

/* What one run did. Strings live until the next run on this hybrid session. */
typedef struct tandem_run_report {
  uint32_t struct_size;  /* sizeof(tandem_run_report) */
  int32_t ran_on;        /* tandem_side */
  int32_t fell_back;     /* 1 = the first choice failed; fallback_reason says why */
  int32_t remote_attempts;
  double total_ms, compute_ms, queue_ms, network_ms;
  const char* where;
  const char* fallback_reason;
} tandem_run_report;

/* Like tandem_session_run. mode: -1 = the session's, else a tandem_placement_mode for this call;
 * deadline_ms: 0 = the session's. report may be NULL. */
tandem_status tandem_hybrid_run(tandem_hybrid* hybrid, int32_t mode, int32_t deadline_ms,
                                const tandem_tensor* const* inputs, size_t input_count, tandem_tensor** outputs,
                                size_t output_count, tandem_run_report* report);

/* ---- the router alone (core/route/router.h): for hosts that make remote calls themselves ----
 * The browser package gathers the facts (download size, heap, navigator.deviceMemory), calls the
 * one router every target uses, and does the fetch. Strings may be NULL. */
typedef struct tandem_route_facts {
  uint32_t struct_size;       /* sizeof(tandem_route_facts) */
  int32_t mode;               /* tandem_placement_mode */
  int32_t privacy;
  int32_t local_copy;         /* the model's bytes are (or can be fetched) here */
  int32_t remote_configured;
  int32_t remote_available;   /* 0 while the breaker is open */
  int32_t planned;            /* weight/arena/io below come from the memory plan */
  int32_t reserved;
  uint64_t download_bytes, weight_bytes, arena_bytes, io_bytes, flops;
  uint64_t available_bytes;   /* the device's budget; 0 = unknown */
  uint64_t memory_cap_bytes;
  uint64_t max_local_flops;
  const char* budget_source;  /* "wasm32 heap", "navigator.deviceMemory", ... */
  const char* remote_reason;  /* why the remote is unavailable */
  const char* local_failure;  /* non-empty: a local load failed, and why */
} tandem_route_facts;

typedef struct tandem_route_decision {
  int32_t primary, fallback;  /* tandem_side */
  uint64_t needed_bytes, budget_bytes;
  const char* reason;         /* lives until the next call on this thread */
} tandem_route_decision;

tandem_status tandem_route_decide(const tandem_route_facts* facts, tandem_route_decision* out);

#ifdef __cplusplus
}
#endif

#endif /* TANDEM_H_ */
