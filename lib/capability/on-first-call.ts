/**
 * A capability whose engines are heavy (sharp, pdf-lib and pdf.js, tesseract, exceljs) builds its
 * implementation on the first call instead of at start-up: the process starts fast and stays small
 * until it is used. Each method waits for the one build, then calls the built implementation; a
 * failed build fails that call and is tried again by the next.
 */
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";

/** What a capability builds: its implementation and how to stop it. */
export interface Built<S extends DescService> {
  impl: ServiceImpl<S>;
  stop?: () => Promise<void>;
}

type AnyMethod = (input: unknown, context: HandlerContext) => unknown;

/** An implementation of `service` that builds the real one with `build` when first called. */
export function builtOnFirstCall<S extends DescService>(
  service: S,
  build: () => Promise<Built<S>>,
): { impl: ServiceImpl<S>; stop(): Promise<void> } {
  let building: Promise<Built<S>> | undefined;
  const built = () => {
    building ??= build().catch((err: unknown) => {
      building = undefined;
      throw err;
    });
    return building;
  };
  const method = async (name: string): Promise<AnyMethod> => {
    const fn = ((await built()).impl as unknown as Record<string, AnyMethod | undefined>)[name];
    if (!fn) throw new ConnectError(`${service.typeName}/${name} is not implemented`, Code.Unimplemented);
    return fn;
  };
  const impl: Record<string, AnyMethod> = {};
  for (const m of service.methods) {
    const streams = m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming";
    impl[m.localName] = streams
      ? async function* (input, context) {
          yield* (await method(m.localName))(input, context) as AsyncIterable<unknown>;
        }
      : async (input, context) => (await method(m.localName))(input, context);
  }
  return {
    impl: impl as unknown as ServiceImpl<S>,
    async stop() {
      // Nothing to stop unless it was built; a build in progress is waited for.
      const done = await building?.catch(() => undefined);
      await done?.stop?.();
    },
  };
}
