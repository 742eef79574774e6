/** Descriptor sets built from generated code, for gRPC server reflection. */
import { create, toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { file_grpc_health_v1_health } from "../../gen/grpc/health/v1/health_pb.js";

/** Every file the given files need, dependencies first, each once. */
export function filesInDependencyOrder(files: DescFile[]): DescFile[] {
  const seen = new Set<string>();
  const out: DescFile[] = [];
  const visit = (file: DescFile) => {
    if (seen.has(file.name)) return;
    seen.add(file.name);
    for (const dep of file.dependencies) visit(dep);
    out.push(file);
  };
  files.forEach(visit);
  return out;
}

/**
 * A serialised google.protobuf.FileDescriptorSet holding the files that declare the given
 * services, grpc.health.v1, and all their dependencies.
 */
export function descriptorSetFor(services: DescService[]): Uint8Array {
  const files = filesInDependencyOrder([...services.map((s) => s.file), file_grpc_health_v1_health]);
  const file: FileDescriptorProto[] = files.map((f) => f.proto);
  return toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file }));
}
