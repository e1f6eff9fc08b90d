# The Vulkan backend's build: Debian's Vulkan headers (libvulkan-dev), glslc, spirv-val
# (spirv-tools) and FP16 (libfp16-dev, header-only: fp16 storage's conversions on the host).
# TANDEM_VULKAN=AUTO builds it when all are found. The loader is opened at
# run time (dlopen), so the binaries still run where Vulkan is absent.
#
# Shaders: backends/vulkan/shaders/*.comp -> glslc (with a depfile for #include) -> spirv-val ->
# one generated C++ file of uint32_t words (cmake/embed_spirv.cmake). Each shader is built twice:
# NAME (fp32 storage) and NAME_f16 (-DTANDEM_FP16: float buffers hold fp16, arithmetic stays fp32).
set(TANDEM_VULKAN AUTO CACHE STRING "Build the Vulkan backend: AUTO (when libvulkan-dev, glslc, spirv-tools are found), ON, OFF")
set(TANDEM_HAS_VULKAN OFF)
if(EMSCRIPTEN OR TANDEM_VULKAN STREQUAL "OFF")
  return()
endif()
find_package(Vulkan QUIET COMPONENTS glslc)
find_program(TANDEM_SPIRV_VAL spirv-val)
find_path(TANDEM_FP16_INCLUDE_DIR fp16.h)
set(missing "")
if(NOT Vulkan_INCLUDE_DIRS)
  list(APPEND missing "libvulkan-dev")
endif()
if(NOT Vulkan_GLSLC_EXECUTABLE)
  list(APPEND missing "glslc")
endif()
if(NOT TANDEM_SPIRV_VAL)
  list(APPEND missing "spirv-tools")
endif()
if(NOT TANDEM_FP16_INCLUDE_DIR)
  list(APPEND missing "libfp16-dev")
endif()
if(missing)
  if(TANDEM_VULKAN STREQUAL "ON")
    message(FATAL_ERROR "TANDEM_VULKAN=ON needs: ${missing} (apt-get install ${missing})")
  endif()
  message(STATUS "Vulkan backend skipped: install ${missing} (scripts/setup does)")
  return()
endif()
set(TANDEM_HAS_VULKAN ON)
# Tests pin Mesa's lavapipe (Vulkan on the CPU), so a GPU on the machine does not change them.
set(TANDEM_LAVAPIPE_ICD /usr/share/vulkan/icd.d/lvp_icd.x86_64.json CACHE FILEPATH "lavapipe's ICD file, for the Vulkan tests")

file(GLOB TANDEM_VULKAN_SHADERS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/backends/vulkan/shaders/*.comp)
set(spv_dir ${PROJECT_BINARY_DIR}/shaders)
file(MAKE_DIRECTORY ${spv_dir})
set(spv_files "")
foreach(src ${TANDEM_VULKAN_SHADERS})
  get_filename_component(name ${src} NAME_WE)
  foreach(variant "" "_f16")
    set(spv ${spv_dir}/${name}${variant}.spv)
    set(defines "")
    if(variant STREQUAL "_f16")
      set(defines -DTANDEM_FP16)
    endif()
    add_custom_command(OUTPUT ${spv}
      COMMAND ${Vulkan_GLSLC_EXECUTABLE} --target-env=vulkan1.1 -O -Werror ${defines} -MD -MF ${spv}.d -o ${spv} ${src}
      COMMAND ${TANDEM_SPIRV_VAL} --target-env vulkan1.1 ${spv}
      DEPENDS ${src}
      DEPFILE ${spv}.d
      COMMENT "glslc + spirv-val ${name}${variant}.comp"
      VERBATIM)
    list(APPEND spv_files ${spv})
  endforeach()
endforeach()
set(TANDEM_VULKAN_EMBEDDED ${PROJECT_BINARY_DIR}/generated/vulkan_shaders.cc)
add_custom_command(OUTPUT ${TANDEM_VULKAN_EMBEDDED}
  COMMAND ${CMAKE_COMMAND} "-DSPV=${spv_files}" -DOUT=${TANDEM_VULKAN_EMBEDDED} -P ${PROJECT_SOURCE_DIR}/cmake/embed_spirv.cmake
  DEPENDS ${spv_files} ${PROJECT_SOURCE_DIR}/cmake/embed_spirv.cmake
  COMMENT "embedding the SPIR-V shaders"
  VERBATIM)
