# Turns the kernel templates into one C++ source of string literals (run with cmake -P).
# Inputs: OUTPUT (the .cpp to write), INPUTS (files separated by '|').
string(REPLACE "|" ";" INPUTS "${INPUTS}")
set(body "")
set(count 0)
foreach(path IN LISTS INPUTS)
  get_filename_component(name ${path} NAME)
  file(READ ${path} text)
  string(FIND "${text}" ")mxjit_embed\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${path} contains the raw-string delimiter used for embedding")
  endif()
  string(APPEND body "    {\"${name}\", R\"mxjit_embed(${text})mxjit_embed\"},\n")
  math(EXPR count "${count} + 1")
endforeach()
file(WRITE ${OUTPUT}.tmp
"// Generated from templates/ by cmake/embed_templates.cmake. Do not edit.
#include \"jit/embedded_templates.hpp\"

namespace mxjit::jit {
std::span<const EmbeddedFile> embedded_templates() {
  static const EmbeddedFile files[${count}] = {
${body}  };
  return files;
}
}  // namespace mxjit::jit
")
# Only touch the output when it changed, so an unchanged template set does not relink.
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUTPUT}.tmp ${OUTPUT})
file(REMOVE ${OUTPUT}.tmp)
