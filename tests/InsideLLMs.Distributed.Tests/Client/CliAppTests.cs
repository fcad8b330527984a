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
    public async Task TrainStart_MisspeltOption_ExitsTwoNamingIt_BeforeConnecting()
    {
        var run = await CliRun.RunAsync("train", "start", "--gateway", "127.0.0.1:1", "--stpes", "10");

        run.AssertUsageError();
        Assert.Contains("Unrecognized command or argument '--stpes'.", run.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--steps", "ten", "Cannot parse argument 'ten' for option '--steps' as a whole number.")]
    [InlineData("--lr", "fast", "Cannot parse argument 'fast' for option '--lr' as a number.")]
    public async Task TrainStart_ValueOfTheWrongType_ExitsTwoSayingTheTypeInWords(string option, string value, string message)
    {
        var run = await CliRun.RunAsync("train", "start", "--gateway", "127.0.0.1:1", option, value);

        run.AssertUsageError();
        Assert.Contains(message, run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", run.Stderr, StringComparison.Ordinal);
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
