/**
 * @module
 * `bifrost completion bash|zsh`: prints a completion script generated from the registered
 * commands themselves (names, subcommands, options, argument choices), so a new command file is
 * completed without touching this one.
 */
import { Argument, type Command } from 'commander';
import { type CommandModule, examples } from '../command-module.js';

/** What completion knows of one command path (`''` is the root, `pki trust` a subcommand). */
interface Node {
  path: string;
  words: string[];
  described: [string, string][];
  subcommands: string[];
}

function collect(cmd: Command, path: string, out: Node[]): void {
  const subs = cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);
  const options = [...cmd.options.flatMap((o) => [o.long, o.short].filter((x): x is string => typeof x === 'string')), '--help'];
  if (path === '') options.push('--version');
  const choices = cmd.registeredArguments.flatMap((a) => a.argChoices ?? []);
  out.push({
    path,
    words: [...subs.map((c) => c.name()), ...choices, ...options],
    described: [...subs.map((c) => [c.name(), c.description()] as [string, string]), ...choices.map((c) => [c, 'choice'] as [string, string])],
    subcommands: subs.map((c) => c.name()),
  });
  for (const c of subs) collect(c, path === '' ? c.name() : `${path} ${c.name()}`, out);
}

const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

/** The case statement both shells use to find the command path from the words typed so far. */
function walker(nodes: Node[], indent: string): string {
  return nodes
    .filter((n) => n.subcommands.length > 0)
    .map((n) => `${indent}${q(n.path)}) case "$w" in ${n.subcommands.join('|')}) cmdpath="${n.path === '' ? '' : `${n.path} `}$w";; esac;;`)
    .join('\n');
}

/**
 * The bash completion script for `program`.
 * @example eval "$(bifrost completion bash)"
 */
export function bashCompletion(program: Command): string {
  const nodes: Node[] = [];
  collect(program, '', nodes);
  return `# bash completion for bifrost; add to ~/.bashrc:  eval "$(bifrost completion bash)"
_bifrost_completions() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmdpath="" w i words=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    case "$cmdpath" in
${walker(nodes, '      ')}
    esac
  done
  case "$cmdpath" in
${nodes.map((n) => `    ${q(n.path)}) words=${q(n.words.join(' '))};;`).join('\n')}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _bifrost_completions bifrost
`;
}

/**
 * The zsh completion script for `program`.
 * @example bifrost completion zsh > "\${fpath[1]}/_bifrost"
 */
export function zshCompletion(program: Command): string {
  const nodes: Node[] = [];
  collect(program, '', nodes);
  const esc = (s: string): string => s.replaceAll(':', '\\:');
  return `#compdef bifrost
# zsh completion for bifrost; add to ~/.zshrc:  eval "$(bifrost completion zsh)"  (after compinit)
_bifrost() {
  local cmdpath="" w i
  local -a described options
  for ((i = 2; i < CURRENT; i++)); do
    w="\${words[i]}"
    [[ "$w" == -* ]] && continue
    case "$cmdpath" in
${walker(nodes, '      ')}
    esac
  done
  case "$cmdpath" in
${nodes
  .map(
    (n) =>
      `    ${q(n.path)}) described=(${n.described.map(([name, d]) => q(`${esc(name)}:${d}`)).join(' ')}); options=(${n.words
        .filter((x) => x.startsWith('-'))
        .map(q)
        .join(' ')});;`,
  )
  .join('\n')}
  esac
  if [[ "\${words[CURRENT]}" == -* ]]; then
    compadd -- "\${options[@]}"
  else
    (( \${#described} )) && _describe 'bifrost' described
    _files
  fi
}
if [[ "$funcstack[1]" == _bifrost ]]; then _bifrost "$@"; else compdef _bifrost bifrost; fi
`;
}

/** `bifrost completion`. */
export const completionCommand: CommandModule = {
  name: 'completion',
  register(program, run) {
    program
      .command('completion')
      .description('print a shell completion script (bash or zsh)')
      .addArgument(new Argument('<shell>', 'bash | zsh').choices(['bash', 'zsh']))
      .addHelpText('after', examples(['eval "$(bifrost completion bash)"     # in ~/.bashrc', 'eval "$(bifrost completion zsh)"      # in ~/.zshrc, after compinit']))
      .action(
        run(async (ctx, shell: 'bash' | 'zsh') => {
          ctx.io.stdout.write(shell === 'bash' ? bashCompletion(program) : zshCompletion(program));
        }),
      );
  },
};
