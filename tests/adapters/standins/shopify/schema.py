"""Shopify's Admin API schema (2025-01, ISC licence in ``LICENSE`` beside it) and query costs.

``admin_schema_2025-01.json.gz`` is Shopify's published introspection result
(``Shopify/dev-mcp``, ``data/``). The stand-in validates every document
against it with graphql-core, so a misspelt field or a wrong argument fails
exactly as it would on Shopify.

Requested cost follows Shopify's published rules for the GraphQL Admin API:
a scalar or enum field costs 0, an object 1, a connection 2 plus ``first`` (or
``last``) times the cost of one node, a mutation 10.
"""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_client_schema,
    get_named_type,
    is_leaf_type,
    value_from_ast_untyped,
)
from graphql.language import DocumentNode

SCHEMA_PATH = Path(__file__).resolve().parent / "admin_schema_2025-01.json.gz"


@lru_cache(maxsize=1)
def admin_schema() -> GraphQLSchema:
    """The 2025-01 Admin API schema (built once per test process, ~0.5 s)."""
    with gzip.open(SCHEMA_PATH, "rt", encoding="utf-8") as handle:
        return build_client_schema(json.load(handle)["data"])


def _argument(node: FieldNode, name: str, variables: dict[str, Any]) -> Any:
    for arg in node.arguments or ():
        if arg.name.value == name:
            return value_from_ast_untyped(arg.value, variables)
    return None


def requested_cost(schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any]) -> int:
    """The query's requested cost, as Shopify computes it before running it."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    total = 0
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if definition.operation.value == "mutation":
            total += 10
            continue
        total += _selection_cost(schema, schema.query_type, definition.selection_set, fragments, variables)
    return total


def _selection_cost(schema: GraphQLSchema, parent: Any, selection: SelectionSetNode | None,
                    fragments: dict[str, FragmentDefinitionNode], variables: dict[str, Any]) -> int:
    if selection is None or parent is None:
        return 0
    cost = 0
    for node in selection.selections:
        if isinstance(node, FragmentSpreadNode):
            fragment = fragments[node.name.value]
            target = schema.get_type(fragment.type_condition.name.value)
            cost += _selection_cost(schema, target, fragment.selection_set, fragments, variables)
        elif isinstance(node, InlineFragmentNode):
            target = schema.get_type(node.type_condition.name.value) if node.type_condition else parent
            cost += _selection_cost(schema, target, node.selection_set, fragments, variables)
        elif isinstance(node, FieldNode):
            fields = getattr(parent, "fields", {})
            field = fields.get(node.name.value)
            if field is None:
                continue
            named = get_named_type(field.type)
            if is_leaf_type(named):
                continue
            inner = _selection_cost(schema, named, node.selection_set, fragments, variables)
            if named.name.endswith("Connection"):
                size = _argument(node, "first", variables) or _argument(node, "last", variables) or 0
                node_cost = _connection_node_cost(schema, named, node.selection_set, fragments, variables)
                cost += 2 + int(size) * node_cost
            elif "first" in field.args:  # a plain list with a size (fulfillments(first:), trackingInfo(first:))
                size = _argument(node, "first", variables) or 1
                cost += int(size) * (1 + inner)
            else:
                cost += 1 + inner
    return cost


def _connection_node_cost(schema: GraphQLSchema, connection: Any, selection: SelectionSetNode | None,
                          fragments: dict[str, FragmentDefinitionNode], variables: dict[str, Any]) -> int:
    """Cost of one node of a connection (its ``nodes`` or ``edges { node }`` selection)."""
    if selection is None:
        return 0
    best = 0
    for node in selection.selections:
        if not isinstance(node, FieldNode):
            continue
        if node.name.value == "nodes":
            node_type = get_named_type(connection.fields["nodes"].type)
            best = max(best, 1 + _selection_cost(schema, node_type, node.selection_set, fragments, variables))
        elif node.name.value == "edges" and node.selection_set is not None:
            edge_type = get_named_type(connection.fields["edges"].type)
            for inner in node.selection_set.selections:
                if isinstance(inner, FieldNode) and inner.name.value == "node":
                    node_type = get_named_type(edge_type.fields["node"].type)
                    best = max(best, 1 + _selection_cost(schema, node_type, inner.selection_set, fragments,
                                                         variables))
    return best
