// The compute shaders, compiled to SPIR-V at build time (glslc, checked by spirv-val) and
// embedded: shaders/NAME.comp is shader_spirv("NAME"). The table is generated (cmake/vulkan.cmake).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace tandem::vulkan {

// Empty when there is no such shader.
std::span<const uint32_t> shader_spirv(std::string_view name);

}  // namespace tandem::vulkan
