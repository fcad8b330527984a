namespace InsideLLMs.Distributed.Tests.Client;

public sealed class CliAppTests
{
    [Fact]
    public async Task Run_NoVerb_ExitsTwoPointingToHelp()
    {
        var run = await CliRun.RunAsync();

        run.AssertUsageError();
        Assert.Contains("--help", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_UnknownVerb_ExitsTwoNamingIt()
    {
        var run = await CliRun.RunAsync("frobnicate");

        run.AssertUsageError();
        Assert.Contains("frobnicate", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_OptionWithoutValue_ExitsTwoPointingToVerbHelp()
    {
        var run = await CliRun.RunAsync("tokenize", "--encoding");

        run.AssertUsageError();
        Assert.Contains("--encoding", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("tokenize --help", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_ExtraArgument_ExitsTwoNamingIt()
    {
        var run = await CliRun.RunAsync("tokenize", "two", "words");

        run.AssertUsageError();
        Assert.Contains("'words'", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_Help_ExitsZeroListingVerbsAndJsonOption()
    {
        var run = await CliRun.RunAsync("--help");

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("tokenize", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("--json", run.Stdout, StringComparison.Ordinal);
    }
}
