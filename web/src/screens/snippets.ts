/** The same call as curl (Connect and REST), TypeScript and Python, for the request as it stands. */
import type { DescMethod, JsonValue } from "@bufbuild/protobuf";

const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** Snippets by language, the key shown as `$FLOWFORGE_KEY` (never the signed-in one). */
export function snippets(method: DescMethod, body: JsonValue, restPath: string | undefined, origin: string) {
  const json = JSON.stringify(body);
  const pretty = JSON.stringify(body, null, 2);
  const auth = `-H "Authorization: Bearer $FLOWFORGE_KEY"`;
  const connectUrl = `${origin}/${method.parent.typeName}/${method.name}`;
  const out: { label: string; code: string }[] = [
    {
      label: "curl (Connect)",
      code: `curl -X POST ${shellQuote(connectUrl)} \\\n  ${auth} \\\n  -H 'Content-Type: application/json' \\\n  -d ${shellQuote(json)}`,
    },
  ];
  if (restPath)
    out.push({
      label: "curl (REST)",
      code: `curl -X POST ${shellQuote(origin + restPath)} \\\n  ${auth} \\\n  -H 'Content-Type: application/json' \\\n  -d ${shellQuote(json)}`,
    });
  const importPath = `./gen/${method.parent.file.name}_pb.js`;
  out.push({
    label: "TypeScript",
    code: [
      `import { createClient } from "@connectrpc/connect";`,
      `import { createConnectTransport } from "@connectrpc/connect-web";`,
      `import { ${method.parent.name} } from "${importPath}";`,
      "",
      `const client = createClient(${method.parent.name}, createConnectTransport({`,
      `  baseUrl: ${JSON.stringify(origin)},`,
      `  interceptors: [(next) => (req) => { req.header.set("authorization", \`Bearer \${process.env.FLOWFORGE_KEY}\`); return next(req); }],`,
      `}));`,
      `const answer = await client.${method.localName}(${pretty.replaceAll("\n", "\n")});`,
    ].join("\n"),
  });
  out.push({
    label: "Python",
    code: [
      "import os, requests",
      "",
      "answer = requests.post(",
      `    ${JSON.stringify(restPath ? origin + restPath : connectUrl)},`,
      `    headers={"Authorization": f"Bearer {os.environ['FLOWFORGE_KEY']}"},`,
      `    json=${pythonLiteral(body)},`,
      ").json()",
    ].join("\n"),
  });
  return out;
}

function pythonLiteral(value: JsonValue): string {
  if (value === null) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (Array.isArray(value)) return `[${value.map(pythonLiteral).join(", ")}]`;
  if (typeof value === "object")
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${pythonLiteral(v)}`)
      .join(", ")}}`;
  return JSON.stringify(value);
}
