// The workspace's SQL editor: CodeMirror 6 with a Databricks SQL dialect, completion of the
// lakehouse's tables, Ctrl/Cmd-Enter to run, and errors marked at their line and column.
// Bundled by `npm run build` into lakeinfer/ui/static/editor.js (see scripts/build-ui.sh).
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { SQLDialect, sql } from "@codemirror/lang-sql";
import { bracketMatching, defaultHighlightStyle, indentOnInput, syntaxHighlighting } from "@codemirror/language";
import { lintGutter, setDiagnostics } from "@codemirror/lint";
import { highlightSelectionMatches, searchKeymap } from "@codemirror/search";
import { Compartment, EditorState, Prec } from "@codemirror/state";
import {
  EditorView, drawSelection, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers,
  placeholder,
} from "@codemirror/view";

const KEYWORDS =
  "add after all alter analyze and anti any array as asc between both by cache cascade case cast " +
  "catalog catalogs change clone cluster collate column columns comment commit constraint create cross " +
  "cube current current_date current_timestamp database databases default delete desc describe " +
  "detail distinct distribute div drop else end escape except exists explain extended external false " +
  "fetch filter first following for foreign format from full function functions grant group grouping " +
  "having history if ignore ilike in inner insert intersect interval into is join lateral last left " +
  "like limit live location map matched materialized merge minus natural not null nulls of on optimize " +
  "or order outer over overwrite partition partitioned partitions pivot preceding primary properties " +
  "qualify range recursive refresh rename replace reset restore right rlike rollup row rows schema " +
  "schemas select semi set show some sort source streaming struct table tables tablesample target " +
  "tblproperties temporary then time timestamp to true truncate union unpivot update use using vacuum " +
  "values version view views when where window with zorder";
const TYPES =
  "array bigint binary boolean byte char date decimal double float int integer long map short " +
  "smallint string struct timestamp timestamp_ntz tinyint varchar variant void";
const BUILTIN =
  "ai_query ai_analyze_sentiment ai_classify ai_extract ai_fix_grammar ai_gen ai_mask " +
  "ai_similarity ai_summarize ai_translate ai_forecast vector_search read_files named_struct " +
  "array_contains explode from_json to_json get_json_object coalesce concat concat_ws count sum avg " +
  "min max collect_list collect_set size element_at struct transform filter aggregate " +
  "date_format date_add current_timestamp regexp_extract regexp_replace split substr lower upper trim";

/** Databricks SQL: backtick identifiers, double-quoted strings, backslash escapes. */
export const DatabricksSQL = SQLDialect.define({
  keywords: KEYWORDS,
  types: TYPES,
  builtin: BUILTIN,
  backslashEscapes: true,
  doubleQuotedStrings: true,
  identifierQuotes: "`",
  caseInsensitiveIdentifiers: true,
  specialVar: ":?",
});

const theme = EditorView.theme({
  "&": { height: "100%", fontSize: "14px", backgroundColor: "var(--editor-bg, #fff)" },
  ".cm-scroller": { fontFamily: "var(--mono)", lineHeight: "1.5" },
  ".cm-content": { padding: "8px 0" },
  ".cm-gutters": { backgroundColor: "var(--editor-gutter, #f6f7f9)", borderRight: "1px solid var(--line, #e3e6ea)" },
  "&.cm-focused": { outline: "none" },
});

/**
 * Create the editor in `parent`.
 * options: { doc, onRun(text), onChange(text), tables: {name: [columns]} }
 * Returns { view, getValue, setValue, focus, showError(line, column, message), clearErrors,
 *           setTables(schema) }.
 */
export function createEditor(parent, options = {}) {
  const completion = new Compartment();
  const language = (tables) => sql({ dialect: DatabricksSQL, upperCaseKeywords: true, schema: tables || {} });
  const run = () => { options.onRun?.(view.state.doc.toString()); return true; };
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: options.doc || "",
      extensions: [
        lineNumbers(), highlightActiveLineGutter(), history(), drawSelection(), indentOnInput(),
        bracketMatching(), closeBrackets(), autocompletion({ icons: false }), highlightActiveLine(),
        highlightSelectionMatches(), lintGutter(), syntaxHighlighting(defaultHighlightStyle),
        placeholder("SELECT ... — Ctrl+Enter runs"),
        completion.of(language(options.tables)),
        Prec.highest(keymap.of([{ key: "Mod-Enter", run }, { key: "Shift-Enter", run }])),
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...searchKeymap, ...historyKeymap,
          ...completionKeymap, indentWithTab]),
        EditorView.lineWrapping,
        EditorView.updateListener.of((update) => {
          if (update.docChanged) {
            view.dispatch(setDiagnostics(update.state, []));
            options.onChange?.(update.state.doc.toString());
          }
        }),
        theme,
      ],
    }),
  });
  return {
    view,
    getValue: () => view.state.doc.toString(),
    setValue(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    focus: () => view.focus(),
    /** Underline the token at 1-based `line`/`column` and show `message` there. */
    showError(line, column, message) {
      const doc = view.state.doc;
      const ln = doc.line(Math.min(Math.max(line || 1, 1), doc.lines));
      const from = Math.min(ln.from + Math.max((column || 1) - 1, 0), ln.to);
      const rest = doc.sliceString(from, ln.to);
      const word = /^[\w.`'"]+/.exec(rest);
      const to = Math.min(from + (word ? word[0].length : 1), ln.to);
      view.dispatch(
        setDiagnostics(view.state, [{ from, to: Math.max(to, from), severity: "error", message }]),
        { selection: { anchor: from }, scrollIntoView: true },
      );
    },
    clearErrors: () => view.dispatch(setDiagnostics(view.state, [])),
    setTables(tables) { view.dispatch({ effects: completion.reconfigure(language(tables)) }); },
  };
}
