using System.CommandLine;
using System.CommandLine.Invocation;
using InsideLLMs.Distributed.Client.Commands;

namespace InsideLLMs.Distributed.Client.Cli;

/// <summary>The client's entry point. Tests call <see cref="RunAsync"/> in-process with their own writers.</summary>
internal static partial class CliApp
{
    public static RootCommand CreateRootCommand()
    {
        var root = new RootCommand("InsideLLMs.Distributed client: look inside the GPT the cluster is training.")
        {
            GlobalOptions.CreateJson(),
            TokenizeCommand.Create(),
            TrainCommand.Create(),
            ClusterCommand.Create(),
            VersionsCommand.Create(),
            GenerateCommand.Create(),
            InspectCommand.Create(),
            RankCommand.Create(),
            RlhfCommand.Create(),
        };
        return root;
    }

    /// <returns>The process exit code: see <see cref="ExitCodes"/>.</returns>
    public static async Task<int> RunAsync(
        IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default, TextReader? stdin = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);

        CliContext.InputOverride.Value = stdin;
        var root = CreateRootCommand();
        var parseResult = root.Parse(args);
        if (parseResult.Action is ParseErrorAction)
        {
            // The library's own handler exits 1 and prints the whole help; bad input is exit 2 with a pointer to help.
            foreach (var error in parseResult.Errors)
            {
                await stderr.WriteLineAsync($"error: {Readable(error.Message)}");
            }

            var command = parseResult.CommandResult.Command;
            await stderr.WriteLineAsync(command == root ? "See '--help' for usage." : $"See '{command.Name} --help' for usage.");
            return ExitCodes.Usage;
        }

        var invocation = new InvocationConfiguration
        {
            Output = stdout,
            Error = stderr,
            EnableDefaultExceptionHandler = false,
        };
        return await parseResult.InvokeAsync(invocation, cancellationToken);
    }

    /// <summary>
    /// The parser's message with the .NET type it expected said in words: "Cannot parse argument 'ten' for option
    /// '--steps' as a whole number." rather than "as expected type 'System.Nullable`1[System.Int32]'".
    /// </summary>
    internal static string Readable(string message) => ExpectedType().Replace(message, match => match.Groups["type"].Value switch
    {
        "Int32" or "Int64" => "as a whole number",
        "Double" or "Single" => "as a number",
        "Boolean" => "as true or false",
        var other => $"as {other}",
    });

    [System.Text.RegularExpressions.GeneratedRegex(@"as expected type 'System\.(?:Nullable`1\[System\.)?(?<type>\w+)\]?'")]
    private static partial System.Text.RegularExpressions.Regex ExpectedType();
}
