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
  TANDEM_UNAVAILABLE = 8
} tandem_status;

/* Element types use ONNX TensorProto numbering (1 = float32, 7 = int64, ...). */
typedef struct tandem_session tandem_session;
typedef struct tandem_tensor tandem_tensor;

const char* tandem_last_error(void);

tandem_status tandem_session_load_file(const char* path, tandem_session** out);
tandem_status tandem_session_load_bytes(const void* data, size_t size, tandem_session** out);
void tandem_session_free(tandem_session* session);

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

#ifdef __cplusplus
}
#endif

#endif /* TANDEM_H_ */
