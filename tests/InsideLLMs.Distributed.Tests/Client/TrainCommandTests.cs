using System.Text.Json;

namespace InsideLLMs.Distributed.Tests.Client;

public sealed class TrainCommandTests : IDisposable
{
    // A model small enough that a few steps take well under a second.
    private static readonly string[] Tiny =
        ["train", "--local", "--layers", "1", "--heads", "2", "--width", "32", "--context", "32", "--batch-size", "4", "--eval-batches", "2", "--threads", "1"];

    private readonly string _directory = Directory.CreateTempSubdirectory("illm-cli-train-").FullName;

    [Fact]
    public async Task TrainLocal_Json_PrintsOneDocumentWithTheSummaryAndTheFloor()
    {
        var run = await CliRun.RunAsync([.. Tiny, "--steps", "3", "--json"]);

        Assert.True(run.ExitCode == 0, run.Stderr);
        using var json = JsonDocument.Parse(run.Stdout);
        var root = json.RootElement;
        Assert.Equal(3, root.GetProperty("steps").GetInt64());
        Assert.True(root.GetProperty("validationLoss").GetDouble() > root.GetProperty("entropyFloor").GetDouble());
        Assert.Equal(3 * 4 * 32, root.GetProperty("tokens").GetInt64());
        Assert.Contains("step 3/3", run.Stderr, StringComparison.Ordinal); // progress goes to stderr under --json
    }

    [Fact]
    public async Task TrainLocal_ResumedFromACheckpoint_EndsWhereTheUninterruptedRunEnds()
    {
        // A flat learning rate after one warmup step, so a 2-step run and the first half of a 4-step run share a schedule.
        var checkpoint = Path.Combine(_directory, "run.ckpt");
        string[] flat = [.. Tiny, "--warmup", "1", "--lr", "0.003", "--min-lr", "0.003", "--json"];
        var uninterrupted = await CliRun.RunAsync([.. flat, "--steps", "4"]);
        var firstHalf = await CliRun.RunAsync([.. flat, "--steps", "2", "--checkpoint", checkpoint]);
        var secondHalf = await CliRun.RunAsync("train", "--local", "--resume", checkpoint, "--steps", "4", "--eval-batches", "2", "--threads", "1", "--json");

        Assert.True(firstHalf.ExitCode == 0 && secondHalf.ExitCode == 0, firstHalf.Stderr + secondHalf.Stderr);
        Assert.Equal(Figure(uninterrupted, "trainingLoss"), Figure(secondHalf, "trainingLoss"));
        Assert.Equal(Figure(uninterrupted, "validationLoss"), Figure(secondHalf, "validationLoss"));
    }

    [Theory]
    [InlineData("--heads", "3", "not divisible by 3 heads")]
    [InlineData("--steps", "0", "steps must be at least 1")]
    [InlineData("--lr", "-1", "learning rate must be positive")]
    [InlineData("--encoding", "nope", "Unknown encoding 'nope'")]
    public async Task TrainLocal_BadSetting_ExitsTwoNamingItAndWritesNoCheckpoint(string option, string value, string message)
    {
        var checkpoint = Path.Combine(_directory, "never.ckpt");
        var run = await CliRun.RunAsync([.. With(option, value), "--checkpoint", checkpoint]);

        run.AssertUsageError();
        Assert.Contains(message, run.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(checkpoint));
    }

    [Fact]
    public async Task TrainLocal_ContextLongerThanTheCorpus_ExitsTwoNamingBoth()
    {
        var small = Path.Combine(_directory, "small.txt");
        await File.WriteAllTextAsync(small, "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer.");

        var run = await CliRun.RunAsync([.. With("--context", "64"), "--corpus", small, "--encoding", "char"]);

        run.AssertUsageError();
        Assert.Contains("A context of 65 tokens", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TrainLocal_CorpusFileEmptyOrMissing_ExitsTwo()
    {
        var empty = Path.Combine(_directory, "empty.txt");
        await File.WriteAllTextAsync(empty, "");

        (await CliRun.RunAsync([.. Tiny, "--corpus", empty, "--encoding", "char"])).AssertUsageError();
        (await CliRun.RunAsync([.. Tiny, "--corpus", Path.Combine(_directory, "missing.txt")])).AssertUsageError();
    }

    [Fact]
    public async Task TrainLocal_ResumeFromACorruptCheckpoint_SaysSoAndLeavesItAlone()
    {
        var checkpoint = Path.Combine(_directory, "bad.ckpt");
        await File.WriteAllTextAsync(checkpoint, "ILLMCKPT but nothing else of a checkpoint, long enough to hold a hash....");

        var run = await CliRun.RunAsync("train", "--local", "--resume", checkpoint);

        run.AssertUsageError();
        Assert.Contains("corrupt", run.Stderr, StringComparison.Ordinal);
        Assert.StartsWith("ILLMCKPT but", await File.ReadAllTextAsync(checkpoint), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Train_WithoutLocal_ExplainsWhatExists()
    {
        var run = await CliRun.RunAsync("train");
        run.AssertUsageError();
        Assert.Contains("--local", run.Stderr, StringComparison.Ordinal);
    }

    /// <summary>The tiny arguments with one option set to <paramref name="value"/> (replaced if present, added if not).</summary>
    private static string[] With(string option, string value)
    {
        var args = Tiny.ToList();
        var index = args.IndexOf(option);
        if (index >= 0)
        {
            args[index + 1] = value;
        }
        else
        {
            args.AddRange([option, value]);
        }

        return [.. args];
    }

    private static double Figure(CliRun run, string name)
    {
        using var json = JsonDocument.Parse(run.Stdout);
        return json.RootElement.GetProperty(name).GetDouble();
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
