/**
 * gRPC server reflection (v1 and v1alpha) answered from the descriptors embedded in generated
 * code, so grpcurl, `buf curl` and Python's reflection client work without .proto files. The
 * same implementation serves on grpc-js (services) and connect-node (the gateway).
 */
import { toBinary, type DescFile, type DescMessage, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { file_grpc_health_v1_health } from "#gen/grpc/health/v1/health_pb.js";
import {
  ServerReflection,
  type ServerReflectionRequest,
  type ServerReflectionResponseSchema,
} from "#gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionAlpha } from "#gen/grpc/reflection/v1alpha/reflection_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ServiceRegistration } from "./registration.js";

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

function indexSymbols(file: DescFile, bySymbol: Map<string, DescFile>) {
  const addMessage = (m: DescMessage) => {
    bySymbol.set(m.typeName, file);
    for (const f of m.fields) bySymbol.set(`${m.typeName}.${f.name}`, file);
    m.nestedMessages.forEach(addMessage);
    for (const e of m.nestedEnums) bySymbol.set(e.typeName, file);
  };
  file.messages.forEach(addMessage);
  for (const e of file.enums) bySymbol.set(e.typeName, file);
  for (const s of file.services) {
    bySymbol.set(s.typeName, file);
    for (const m of s.methods) bySymbol.set(`${s.typeName}.${m.name}`, file);
  }
}

type Response = MessageInitShape<typeof ServerReflectionResponseSchema>;

/**
 * Creates the reflection implementation for the given services (grpc.health.v1 is always
 * listed). Register the result under both `ServerReflection` descriptors.
 */
export function createReflectionService(services: DescService[]): ServiceImpl<typeof ServerReflection> {
  const files = filesInDependencyOrder([...services.map((s) => s.file), file_grpc_health_v1_health]);
  const byName = new Map(files.map((f) => [f.name, f]));
  const bySymbol = new Map<string, DescFile>();
  for (const f of files) indexSymbols(f, bySymbol);
  const serviceNames = [...services.map((s) => s.typeName), "grpc.health.v1.Health"];
  const encoded = new Map(files.map((f) => [f.name, toBinary(FileDescriptorProtoSchema, f.proto)]));

  const withDeps = (file: DescFile) =>
    filesInDependencyOrder([file])
      .reverse()
      .map((f) => encoded.get(f.name)!);

  function answer(req: ServerReflectionRequest): Response {
    const base = { validHost: req.host, originalRequest: req };
    const notFound = (what: string): Response => ({
      ...base,
      messageResponse: { case: "errorResponse", value: { errorCode: 5, errorMessage: `${what} not found` } },
    });
    const r = req.messageRequest;
    switch (r.case) {
      case "listServices":
        return {
          ...base,
          messageResponse: { case: "listServicesResponse", value: { service: serviceNames.map((name) => ({ name })) } },
        };
      case "fileByFilename": {
        const file = byName.get(r.value);
        return file
          ? {
              ...base,
              messageResponse: { case: "fileDescriptorResponse", value: { fileDescriptorProto: withDeps(file) } },
            }
          : notFound(`file ${r.value}`);
      }
      case "fileContainingSymbol": {
        const file = bySymbol.get(r.value.replace(/^\./, ""));
        return file
          ? {
              ...base,
              messageResponse: { case: "fileDescriptorResponse", value: { fileDescriptorProto: withDeps(file) } },
            }
          : notFound(`symbol ${r.value}`);
      }
      case "allExtensionNumbersOfType":
        return bySymbol.has(r.value)
          ? {
              ...base,
              messageResponse: {
                case: "allExtensionNumbersResponse",
                value: { baseTypeName: r.value, extensionNumber: [] },
              },
            }
          : notFound(`type ${r.value}`);
      case "fileContainingExtension":
        return notFound(`extension ${r.value.containingType}(${r.value.extensionNumber})`);
      default:
        return {
          ...base,
          messageResponse: { case: "errorResponse", value: { errorCode: 3, errorMessage: "empty request" } },
        };
    }
  }

  return {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) yield answer(req);
    },
  };
}

/** Registrations of reflection under v1 and v1alpha, for the given services. */
export function reflectionRegistrations(services: DescService[]): ServiceRegistration[] {
  const impl = createReflectionService(services);
  return [
    { service: ServerReflection, impl },
    { service: ServerReflectionAlpha, impl },
  ] as unknown as ServiceRegistration[];
}
