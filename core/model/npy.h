// NumPy .npy files (version 1.0/2.0, little-endian, C order): the CLI's tensor format.
#pragma once

#include <string>

#include "core/runtime/tensor.h"

namespace tandem::model {

Result<Tensor> read_npy(const std::string& path);
Status write_npy(const std::string& path, const Tensor& tensor);

}  // namespace tandem::model
