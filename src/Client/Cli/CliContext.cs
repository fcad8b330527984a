using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Spectre.Console;

namespace InsideLLMs.Distributed.Client.Cli;

/// <summary>What a verb needs to talk to the user: its parsed arguments, stdout, stderr and the output mode.</summary>
/// <remarks>
/// Built from the <see cref="ParseResult"/>, so the writers are the ones given to <see cref="CliApp.RunAsync"/>:
/// the real console in the program, <see cref="StringWriter"/>s in tests.
/// </remarks>
internal sealed class CliContext
{
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        // Token text is the point of the output: keep accents and CJK readable instead of \uXXXX.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new JsonStringEnumConverter() }, // a run's phase as "Running", as the silo's HTTP API writes it
    };

    private CliContext(ParseResult parseResult, TextWriter output, TextWriter error, bool json)
    {
        ParseResult = parseResult;
        Output = output;
        Error = error;
        Json = json;

        // With --json the human console writes nowhere, so a verb that forgets to check Json cannot break the document.
        var consoleOutput = new AnsiConsoleOutput(json ? TextWriter.Null : output);
        var terminal = !json && consoleOutput.IsTerminal;
        Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = consoleOutput,
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
        });
        IsTerminal = terminal && Console.Profile.Capabilities.Interactive;
    }

    public ParseResult ParseResult { get; }

    /// <summary>Raw stdout; human output should go through <see cref="Console"/>, JSON through <see cref="WriteJson{T}"/>.</summary>
    public TextWriter Output { get; }

    /// <summary>stderr: errors, warnings, and progress when stdout carries JSON.</summary>
    public TextWriter Error { get; }

    /// <summary>Spectre console over stdout for tables and progress; a sink when <see cref="Json"/> is set.</summary>
    public IAnsiConsole Console { get; }

    /// <summary>The user asked for machine-readable output: exactly one JSON document on stdout.</summary>
    public bool Json { get; }

    /// <summary>stdout is an interactive terminal (not redirected, not --json): live widgets are welcome.</summary>
    public bool IsTerminal { get; }

    /// <summary>The context of a running action: the writers given to <see cref="CliApp.RunAsync"/>.</summary>
    public static CliContext From(ParseResult parseResult)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        var invocation = parseResult.InvocationConfiguration;
        return Create(parseResult, invocation.Output, invocation.Error);
    }

    /// <summary>A context over given writers, for helpers tested without running a verb.</summary>
    public static CliContext Create(ParseResult parseResult, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        return new CliContext(parseResult, output, error, parseResult.GetValue<bool>(GlobalOptions.JsonName));
    }

    /// <summary>stdin: the reader given to <see cref="CliApp.RunAsync"/>, else the console's.</summary>
    public TextReader Input => InputOverride.Value ?? System.Console.In;

    /// <summary>The input of the <see cref="CliApp.RunAsync"/> call in flight (tests give a <see cref="StringReader"/>).</summary>
    internal static AsyncLocal<TextReader?> InputOverride { get; } = new();

    public T? GetValue<T>(Option<T> option) => ParseResult.GetValue(option);

    public T? GetValue<T>(Argument<T> argument) => ParseResult.GetValue(argument);

    /// <summary>Writes the verb's one JSON document (camelCase properties) followed by a newline.</summary>
    public void WriteJson<T>(T value)
    {
        Output.WriteLine(JsonSerializer.Serialize(value, JsonOptions));
        Output.Flush();
    }
}
