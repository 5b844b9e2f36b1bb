import { loadComponents } from "../config/components.js";
import { describeBinding } from "../config/describe.js";
import { ConfigError } from "../errors.js";

const HELP = `Usage: redis-binding-worker validate <dir>

Loads every component file in <dir> the way the worker would, prints the resolved
settings of each bindings.redis component as JSON (secrets shown as ****), and exits
non-zero with one error line if any file is invalid.`;

export async function runValidate(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const dir = args[0] ?? process.env.COMPONENTS_PATH ?? "./config/components";
  try {
    const loaded = await loadComponents(dir);
    const report = {
      directory: dir,
      bindings: loaded.bindings.map(describeBinding),
      ignored: loaded.ignored,
      warnings: loaded.warnings,
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`invalid configuration: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
