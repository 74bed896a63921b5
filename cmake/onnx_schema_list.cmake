# The list of libonnx's operator schema definitions, for src/import/onnx/onnx_schemas.cpp.
#
# libonnx defines each operator version as a specialization GetOpSchema<T>() and lists them
# all in its installed operator_sets*.h headers (the lists OpSchemaRegistry registers).
# This reads those lists at configure time and writes one line per definition,
#   INFERCAST_ONNX_SCHEMA(<set>, <version>, <name>)     e.g. INFERCAST_ONNX_SCHEMA(Onnx, 11, Conv)
# so that the importer can build one schema when a model uses it instead of all of them.
# The generated file is rewritten only when its content changes.
function(infercast_onnx_schema_list out_file)
  get_target_property(onnx_include_dirs onnx INTERFACE_INCLUDE_DIRECTORIES)
  find_path(INFERCAST_ONNX_DEFS_DIR onnx/defs/operator_sets.h HINTS ${onnx_include_dirs} REQUIRED)
  set(lines "")
  set(count 0)
  foreach(header operator_sets.h operator_sets_ml.h operator_sets_training.h operator_sets_preview.h)
    set(path ${INFERCAST_ONNX_DEFS_DIR}/onnx/defs/${header})
    if(NOT EXISTS ${path})
      continue()
    endif()
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${path})
    file(STRINGS ${path} calls REGEX "fn\\(GetOpSchema<")
    foreach(call IN LISTS calls)
      if(call MATCHES "ONNX_OPERATOR_SET_SCHEMA_CLASS_NAME\\(([A-Za-z]+), *([0-9]+), *([A-Za-z0-9_]+)\\)")
        string(APPEND lines "INFERCAST_ONNX_SCHEMA(${CMAKE_MATCH_1}, ${CMAKE_MATCH_2}, ${CMAKE_MATCH_3})\n")
      elseif(call MATCHES "ONNX_PREVIEW_OPERATOR_SET_SCHEMA_CLASS_NAME\\(([0-9]+), *([A-Za-z0-9_]+)\\)")
        string(APPEND lines "INFERCAST_ONNX_SCHEMA(OnnxPreview, ${CMAKE_MATCH_1}, ${CMAKE_MATCH_2})\n")
      else()
        message(FATAL_ERROR "onnx_schema_list: cannot read '${call}' in ${path}")
      endif()
      math(EXPR count "${count} + 1")
    endforeach()
  endforeach()
  if(count LESS 100)
    message(FATAL_ERROR "onnx_schema_list: only ${count} schema definitions found under ${INFERCAST_ONNX_DEFS_DIR}")
  endif()
  file(CONFIGURE OUTPUT ${out_file} CONTENT "${lines}" @ONLY)
  message(STATUS "ONNX operator schemas: ${count} definitions listed from ${INFERCAST_ONNX_DEFS_DIR}/onnx/defs")
endfunction()
