/**
 * Render: Mustache (logic-less) or Handlebars (built-in helpers only, no prototype access), on the
 * sandbox's threads (worker.ts), where the time and heap limits bound a template that recurses
 * through its partials or multiplies its output.
 */
import Handlebars from "handlebars";
import Mustache from "mustache";

/** A template to fill. */
export interface RenderTask {
  kind: "render";
  engine: "mustache" | "handlebars";
  template: string;
  data: unknown;
  partials: Record<string, string>;
  noEscape: boolean;
}

// Every template is untrusted and used once: no cache to grow.
Mustache.templateCache = undefined;

/** Fills the template. */
export function render(task: RenderTask): string {
  if (task.engine === "mustache") {
    const options = task.noEscape ? { escape: (s: string) => s } : undefined;
    return Mustache.render(task.template, task.data, task.partials, options);
  }
  // A fresh environment per template: partials registered for one never reach another.
  const env = Handlebars.create();
  for (const [name, partial] of Object.entries(task.partials)) env.registerPartial(name, partial);
  const template = env.compile(task.template, { noEscape: task.noEscape, knownHelpersOnly: true, strict: false });
  return template(task.data);
}
