"""Turn a shipped int8 ONNX model into the float graph that ``onnx2tf`` converts well.

The TFLite converter quantizes by itself, from calibration data, and cannot read ONNX's QDQ form; so the QDQ
pairs go and every int8 weight becomes the float value it stands for (the LiteRT model starts from exactly the
weights the kiosk ships). Dynamic shapes are fixed and folded (``onnx2tf`` cannot lower the shape arithmetic of a
transformer otherwise), and the exported erf-GELU is fused back into one ``Gelu``: TFLite has no ERF, and its int8
GELU is a lookup table, far more exact than an erf approximation quantized op by op.

Runs in the converter's environment (``onnx``, ``onnxruntime``), see ``convert.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper, version_converter

GELU_OPSET = 20  # the first opset with a Gelu operator


def dequantized(model: onnx.ModelProto, keep_qdq: bool = False) -> onnx.ModelProto:
    """``model`` with constant DequantizeLinear folded to float initializers and activation Q->DQ pairs removed;
    with ``keep_qdq``, only its int8 embedding tables are changed (read row by row, see ``_is_int8_row_table``)."""
    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    constants.update(
        {
            node.output[0]: numpy_helper.to_array(node.attribute[0].t)
            for node in graph.node
            if node.op_type == "Constant"
        }
    )
    producers = {output: node for node in graph.node for output in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    replaced: dict[str, str] = {}
    folded: list[onnx.TensorProto] = []
    kept: list[onnx.NodeProto] = []
    row_tables = {node.output[0]: node for node in graph.node if _is_int8_row_table(node, constants, consumers)}
    for node in graph.node:
        if node.output[0] in row_tables:
            continue
        if node.op_type == "Gather" and node.input[0] in row_tables:
            kept.extend(_gather_int8_rows(node, row_tables[node.input[0]], folded))
        elif keep_qdq:
            kept.append(node)
        elif node.op_type == "DequantizeLinear" and node.input[0] in constants:
            folded.append(numpy_helper.from_array(_dequantize(node, constants), node.output[0]))
        elif node.op_type == "DequantizeLinear" and producers[node.input[0]].op_type == "QuantizeLinear":
            replaced[node.output[0]] = producers[node.input[0]].input[0]
        elif node.op_type != "QuantizeLinear":
            kept.append(node)
    for node in kept:
        for index, name in enumerate(node.input):
            node.input[index] = replaced.get(name, name)
    for output in graph.output:
        output.name = replaced.get(output.name, output.name)
    used = {name for node in kept for name in node.input}
    initializers = [init for init in graph.initializer if init.name in used] + [t for t in folded if t.name in used]
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    return model


def _is_int8_row_table(
    node: onnx.NodeProto, constants: dict[str, np.ndarray], consumers: dict[str, list[onnx.NodeProto]]
) -> bool:
    """A constant int8 table with one scale per row, only ever read row by row (an embedding table): it stays
    int8 in the ``.tflite`` (the word embeddings are most of a small transformer's bytes)."""
    if node.op_type != "DequantizeLinear" or node.input[0] not in constants:
        return False
    axis = next((attr.i for attr in node.attribute if attr.name == "axis"), 1)
    zero = constants.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    readers = consumers.get(node.output[0], [])
    return (
        constants[node.input[0]].dtype == np.int8
        and axis == 0
        and (zero is None or not zero.any())
        and bool(readers)
        and all(r.op_type == "Gather" and r.input[0] == node.output[0] and not r.attribute for r in readers)
    )


def _gather_int8_rows(
    gather: onnx.NodeProto, table: onnx.NodeProto, initializers: list[onnx.TensorProto]
) -> list[onnx.NodeProto]:
    """``Gather(dequantize(table), ids)`` as ``dequantize(Gather(table, ids))``: the rows read are scaled, not the
    whole table."""
    out = gather.output[0]
    ids = gather.input[1]
    last_axis = f"{out}/last_axis"
    initializers.append(numpy_helper.from_array(np.array([-1], np.int64), last_axis))
    return [
        helper.make_node("Gather", [table.input[0], ids], [f"{out}/rows_int8"]),
        helper.make_node("Cast", [f"{out}/rows_int8"], [f"{out}/rows"], to=onnx.TensorProto.FLOAT),
        helper.make_node("Gather", [table.input[1], ids], [f"{out}/row_scale"]),
        helper.make_node("Unsqueeze", [f"{out}/row_scale", last_axis], [f"{out}/row_scale_column"]),
        helper.make_node("Mul", [f"{out}/rows", f"{out}/row_scale_column"], [out]),
    ]


def _dequantize(node: onnx.NodeProto, constants: dict[str, np.ndarray]) -> np.ndarray:
    quantized = constants[node.input[0]].astype(np.float32)
    scale = constants[node.input[1]].astype(np.float32)
    zero = constants[node.input[2]].astype(np.float32) if len(node.input) > 2 and node.input[2] else 0.0 * scale
    axis = next((attr.i for attr in node.attribute if attr.name == "axis"), 1)
    if scale.size > 1:  # per-channel: broadcast along the quantized axis
        shape = [1] * quantized.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return ((quantized - zero) * scale).astype(np.float32)


def folded(model: onnx.ModelProto, input_shapes: dict[str, list[int]], work: Path) -> onnx.ModelProto:
    """``model`` with its inputs fixed to ``input_shapes`` and every shape computation folded (onnxruntime's
    basic level: constant folding only, so the graph keeps standard ONNX operators)."""
    for graph_input in model.graph.input:
        if graph_input.name in input_shapes:
            for dim, size in zip(graph_input.type.tensor_type.shape.dim, input_shapes[graph_input.name], strict=True):
                dim.Clear()
                dim.dim_value = size
    fixed, optimised = work / "fixed.onnx", work / "folded.onnx"
    onnx.save(model, str(fixed), save_as_external_data=False)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(optimised)
    ort.InferenceSession(str(fixed), options, providers=["CPUExecutionProvider"])
    return onnx.load(str(optimised))


def with_gelu(model: onnx.ModelProto) -> onnx.ModelProto:
    """``x * 0.5 * (1 + erf(x / sqrt(2)))``, as torch exports GELU, replaced by one ``Gelu`` node (opset 20)."""
    model = version_converter.convert_version(model, GELU_OPSET)
    graph = model.graph
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    producers = {output: node for node in graph.node for output in node.output}
    removed: set[int] = set()
    fused: dict[int, onnx.NodeProto] = {}
    for erf in (node for node in graph.node if node.op_type == "Erf"):
        divide = producers[erf.input[0]]
        (plus_one,) = consumers[erf.output[0]]
        (times_x,) = consumers[plus_one.output[0]]
        (half,) = consumers[times_x.output[0]]
        x = divide.input[0]
        if divide.op_type != "Div" or plus_one.op_type != "Add" or x not in times_x.input or half.op_type != "Mul":
            raise ValueError(f"Erf node {erf.name!r} is not part of an erf-GELU")
        removed.update(id(node) for node in (divide, erf, plus_one, times_x))
        fused[id(half)] = helper.make_node("Gelu", [x], [half.output[0]], name=f"{erf.name}/gelu")
    nodes = [fused.get(id(node), node) for node in graph.node if id(node) not in removed]
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model
