//! Which RPCs carry message types that can contain themselves (directly, or through other
//! types, `oneof`s and maps: `google.protobuf.Struct` does). Their `METHOD_*` descriptors
//! decode with `a3grpc::codegen::de_bounded`, because protobuf 2.28 reads some of those fields by
//! unbounded recursion; every other RPC keeps grpcio's plain decoder and pays nothing.

use std::collections::{BTreeMap, BTreeSet};

use protobuf::descriptor::FieldDescriptorProto_Type as Type;
use protobuf::descriptor::{DescriptorProto, FileDescriptorProto};

/// The message-typed fields of every message protoc described: full name (`.pkg.Outer.Inner`)
/// to the full names of the types its fields hold.
pub(crate) struct TypeGraph<'a> {
    fields: BTreeMap<String, Vec<&'a str>>,
}

impl<'a> TypeGraph<'a> {
    pub(crate) fn new(files: impl IntoIterator<Item = &'a FileDescriptorProto>) -> TypeGraph<'a> {
        let mut graph = TypeGraph { fields: BTreeMap::new() };
        for file in files {
            let scope = if file.get_package().is_empty() { String::new() } else { format!(".{}", file.get_package()) };
            for message in file.get_message_type() {
                graph.add(&scope, message);
            }
        }
        graph
    }

    fn add(&mut self, scope: &str, message: &'a DescriptorProto) {
        let name = format!("{scope}.{}", message.get_name());
        let holds = message
            .get_field()
            .iter()
            .filter(|f| matches!(f.get_field_type(), Type::TYPE_MESSAGE | Type::TYPE_GROUP))
            .map(|f| f.get_type_name())
            .collect();
        for nested in message.get_nested_type() {
            self.add(&name, nested);
        }
        self.fields.insert(name, holds);
    }

    /// Whether a `type_name` message can hold, at some depth, a message of a type it already
    /// holds: then its nesting depth is up to the sender.
    pub(crate) fn can_nest(&self, type_name: &str) -> bool {
        let mut on_path = BTreeSet::new();
        let mut done = BTreeSet::new();
        self.reaches_cycle(type_name, &mut on_path, &mut done)
    }

    fn reaches_cycle<'n>(
        &'n self,
        name: &'n str,
        on_path: &mut BTreeSet<&'n str>,
        done: &mut BTreeSet<&'n str>,
    ) -> bool {
        if on_path.contains(name) {
            return true;
        }
        if !done.insert(name) {
            return false;
        }
        on_path.insert(name);
        let found = self.fields.get(name).into_iter().flatten().any(|held| self.reaches_cycle(held, on_path, done));
        on_path.remove(name);
        found
    }
}

/// The paths (`/pkg.Service/Method`) of `file`'s RPCs whose request, and those whose
/// response, can nest.
pub(crate) fn nesting_methods(file: &FileDescriptorProto, graph: &TypeGraph) -> (BTreeSet<String>, BTreeSet<String>) {
    let prefix = if file.get_package().is_empty() { String::new() } else { format!("{}.", file.get_package()) };
    let (mut requests, mut responses) = (BTreeSet::new(), BTreeSet::new());
    for service in file.get_service() {
        for method in service.get_method() {
            let path = format!("/{prefix}{}/{}", service.get_name(), method.get_name());
            if graph.can_nest(method.get_input_type()) {
                requests.insert(path.clone());
            }
            if graph.can_nest(method.get_output_type()) {
                responses.insert(path);
            }
        }
    }
    (requests, responses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protobuf::descriptor::FieldDescriptorProto;

    fn message(name: &str, holds: &[&str]) -> DescriptorProto {
        let mut message = DescriptorProto::new();
        message.set_name(name.to_owned());
        for held in holds {
            let mut field = FieldDescriptorProto::new();
            field.set_field_type(Type::TYPE_MESSAGE);
            field.set_type_name(held.to_string());
            message.mut_field().push(field);
        }
        message
    }

    #[test]
    fn finds_cycles_through_other_types_and_nested_ones() {
        let mut file = FileDescriptorProto::new();
        file.set_package("p".into());
        let mut value = message("Value", &[".p.Struct"]);
        value.mut_nested_type().push(message("Inner", &[".p.Leaf"]));
        file.mut_message_type().push(value);
        file.mut_message_type().push(message("Struct", &[".p.Value"]));
        file.mut_message_type().push(message("Leaf", &[]));
        file.mut_message_type().push(message("Holder", &[".p.Struct", ".p.Leaf"]));
        file.mut_message_type().push(message("Plain", &[".p.Leaf", ".p.Value.Inner"]));
        let graph = TypeGraph::new([&file]);
        assert!(graph.can_nest(".p.Value"));
        assert!(graph.can_nest(".p.Holder"), "holds a type that nests");
        assert!(!graph.can_nest(".p.Plain"));
        assert!(!graph.can_nest(".p.Leaf"));
    }
}
