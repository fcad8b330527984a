using InsideLLMs.Distributed.Client.Cli;

namespace InsideLLMs.Distributed.Tests.Client;

/// <summary>One in-process run of the client: what it returned and wrote.</summary>
internal sealed record CliRun(int ExitCode, string Stdout, string Stderr)
{
    public static Task<CliRun> RunAsync(params string[] args) => RunWithInputAsync(null, args);

    /// <summary>Runs the client with <paramref name="input"/> as its stdin (null: the console's).</summary>
    public static async Task<CliRun> RunWithInputAsync(string? input, params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        using var stdin = input is null ? null : new StringReader(input);
        var exitCode = await CliApp.RunAsync(args, stdout, stderr, stdin: stdin);
        return new CliRun(exitCode, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Asserts the run failed as bad input: exit code 2, nothing on stdout, one message and no stack trace.</summary>
    public void AssertUsageError()
    {
        Assert.True(ExitCode == ExitCodes.Usage, $"exit code {ExitCode}, stderr: {Stderr}");
        Assert.Equal("", Stdout);
        Assert.StartsWith("error: ", Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", Stderr, StringComparison.Ordinal);
    }
}
