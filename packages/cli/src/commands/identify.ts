/**
 * @module
 * `bifrost identify <url>`: what the device says about itself (vendor, product, firmware, serial…).
 */
import { type CommandModule, examples } from '../command-module.js';
import { deviceStateOptions } from '../state-dir.js';
import { renderTable } from '../ui/table.js';

/** `bifrost identify`. */
export const identifyCommand: CommandModule = {
  name: 'identify',
  register(program, run) {
    program
      .command('identify')
      .description("print the device's identity (vendor, product, firmware, serial)")
      .argument('<url>', 'device URL')
      .addHelpText('after', examples(['bifrost identify modbus://127.0.0.1:5020?unit=1', 'bifrost --json identify eip://10.0.0.7?path=1,0']))
      .action(
        run(async (ctx, url: string) => {
          const { connect } = await import('@bifrost/core');
          await using plc = await connect(url, { ...deviceStateOptions(url, ctx.stateDir), signal: ctx.signal });
          const who = await plc.identify({ signal: ctx.signal });
          if (ctx.json) {
            ctx.printJson(who);
            return;
          }
          const rows = Object.entries(who)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]);
          for (const l of renderTable([{ header: 'FIELD' }, { header: 'VALUE' }], rows, ctx.palette)) ctx.out(l);
        }),
      );
  },
};
