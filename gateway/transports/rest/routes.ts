/**
 * REST routes from the contracts: every method's `google.api.http` rule (verb, path template,
 * body) as grpc-gateway and Envoy's transcoder read it, and for every method that can run as a
 * job a `<path>:batch` route that submits a batch of its input type (POST routes with the whole
 * body and no `:verb` of their own). Templates use `{field}`
 * variables (one path segment each) and an optional `:verb` suffix on the last segment.
 */
import { getOption, hasOption, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { http } from "#gen/google/api/annotations_pb.js";
import { batchable as hasBatchRoute, parseTemplate, type Segment } from "./templates.js";

/** One REST route: an HTTP verb and path template onto a method. */
export interface RestRoute {
  service: DescService;
  method: DescMethod;
  /** GET, POST, PUT, PATCH or DELETE. */
  verb: string;
  /** The template as written in the rule, e.g. `/api/v1/jobs/{job_id}:cancel`. */
  template: string;
  /** Which input field the body fills: `*` (the whole message), a field name, or none (`""`). */
  body: string;
  /** A batch route: the body is `{"items": [...]}` of the method's input, submitted as one job. */
  batch: boolean;
  /** The path's segments: literals, or `{field}` variables. */
  segments: Segment[];
  /** The `:verb` suffix of the last segment, if any. */
  suffix: string;
}

/** A match: the route and its path variables, decoded. */
export interface RestMatch {
  route: RestRoute;
  params: Record<string, string>;
}

/** The method's HTTP rule as verb, path and body, if it has one. */
export function httpRuleOf(method: DescMethod): { verb: string; path: string; body: string } | undefined {
  if (!hasOption(method, http)) return undefined;
  const rule = getOption(method, http);
  const { case: verb, value } = rule.pattern;
  if (!verb || verb === "custom") return undefined;
  return { verb: verb.toUpperCase(), path: value, body: rule.body };
}

/** The method's additional bindings (`additional_bindings`: the same method at another verb or path). */
function additionalRulesOf(method: DescMethod): { verb: string; path: string; body: string }[] {
  if (!hasOption(method, http)) return [];
  return getOption(method, http).additionalBindings.flatMap((b) => {
    const { case: verb, value } = b.pattern;
    return verb && verb !== "custom" ? [{ verb: verb.toUpperCase(), path: value, body: b.body }] : [];
  });
}

/** The routes of `services` (methods without a rule have none) and their `:batch` twins where `batchable` says. */
export function restRoutes(services: DescService[], batchable: (service: DescService) => boolean): RestRoute[] {
  const routes: RestRoute[] = [];
  for (const service of services) {
    for (const method of service.methods) {
      const rule = httpRuleOf(method);
      if (!rule) continue;
      for (const extra of additionalRulesOf(method)) {
        const alias = { service, method, verb: extra.verb, template: extra.path, body: extra.body, batch: false };
        routes.push({ ...alias, ...parseTemplate(extra.path) });
      }
      const route = { service, method, verb: rule.verb, template: rule.path, body: rule.body, batch: false };
      const parsed = parseTemplate(rule.path);
      routes.push({ ...route, ...parsed });
      if (hasBatchRoute(method, rule, parsed.suffix) && batchable(service)) {
        const template = `${rule.path}:batch`;
        routes.push({ ...route, template, batch: true, ...parseTemplate(template) });
      }
    }
  }
  return routes;
}

function matchSegments(route: RestRoute, parts: string[], suffix: string): Record<string, string> | undefined {
  if (parts.length !== route.segments.length || suffix !== route.suffix) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const s = route.segments[i];
    if ("literal" in s) {
      if (s.literal !== parts[i]) return undefined;
    } else {
      if (parts[i] === "") return undefined;
      params[s.field] = parts[i];
    }
  }
  return params;
}

/** Finds routes by request path. */
export class RestRouter {
  constructor(readonly routes: RestRoute[]) {}

  /**
   * The route for `verb` and `path` (raw, still percent-encoded); `{allowed}` when the path exists
   * under other verbs only; undefined when no route has the path. Throws URIError on bad escapes.
   */
  match(verb: string, path: string): RestMatch | { allowed: string[] } | undefined {
    const parts = path.slice(1).split("/");
    const last = parts[parts.length - 1];
    const colon = last.lastIndexOf(":");
    const candidates: { parts: string[]; suffix: string }[] = [{ parts, suffix: "" }];
    if (colon >= 0)
      candidates.push({ parts: [...parts.slice(0, -1), last.slice(0, colon)], suffix: last.slice(colon + 1) });
    const allowed: string[] = [];
    for (const route of this.routes) {
      for (const c of candidates) {
        const params = matchSegments(route, c.parts, c.suffix);
        if (!params) continue;
        if (route.verb !== verb && !(verb === "HEAD" && route.verb === "GET")) {
          allowed.push(route.verb);
          continue;
        }
        for (const k of Object.keys(params)) params[k] = decodeURIComponent(params[k]);
        return { route, params };
      }
    }
    return allowed.length ? { allowed: [...new Set(allowed)] } : undefined;
  }
}
