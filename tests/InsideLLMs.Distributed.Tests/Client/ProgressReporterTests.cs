using InsideLLMs.Distributed.Client.Cli;

namespace InsideLLMs.Distributed.Tests.Client;

public sealed class ProgressReporterTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task RunAsync_RedirectedOutput_WritesThrottledLinesWithRateEtaAndClosingLine()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var time = new ManualTimeProvider();
        var reporter = new ProgressReporter(Context(stdout, stderr, json: false), time, Interval);

        var result = await reporter.RunAsync(new ProgressJob("train", 10, RateUnit: "tok"), (progress, _) =>
        {
            progress.Report(new ProgressSnapshot(1, 100, "loss 4.000"));
            time.Advance(TimeSpan.FromSeconds(1));
            progress.Report(new ProgressSnapshot(2, 200, "loss 3.500")); // within the interval: not shown
            time.Advance(TimeSpan.FromSeconds(5));
            progress.Report(new ProgressSnapshot(3, 300, "loss 3.000"));
            return Task.FromResult(42);
        });

        Assert.Equal(42, result);
        Assert.Equal("", stderr.ToString());
        var lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("[0:00] train · step 1/10 (10%) · loss 4.000", lines[0], StringComparison.Ordinal);
        // 3 of 10 steps in 6 s: 7 to go at 2 s each; 300 tokens in 6 s.
        Assert.Equal("[0:06] train · step 3/10 (30%) · loss 3.000 · 50 tok/s · ETA 0:14", lines[1]);
        Assert.Equal("[0:06] train · step 3/10 (30%) · loss 3.000 · 50 tok/s · done in 0:06", lines[2]);
    }

    [Fact]
    public async Task RunAsync_Json_WritesProgressToStderrAndNothingToStdout()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var reporter = new ProgressReporter(Context(stdout, stderr, json: true), new ManualTimeProvider(), Interval);

        await reporter.RunAsync(new ProgressJob("train", 2), (progress, _) =>
        {
            progress.Report(new ProgressSnapshot(1));
            progress.Report(new ProgressSnapshot(2));
            return Task.FromResult(true);
        });

        Assert.Equal("", stdout.ToString());
        Assert.Contains("train · step 2/2 (100%) · done in", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_WorkThrows_PropagatesWithoutClosingLine()
    {
        using var stdout = new StringWriter();
        var reporter = new ProgressReporter(Context(stdout, TextWriter.Null, json: false), new ManualTimeProvider(), Interval);

        await Assert.ThrowsAsync<InvalidOperationException>(() => reporter.RunAsync<int>(
            new ProgressJob("train", 2), (_, _) => throw new InvalidOperationException("silo lost")));

        Assert.DoesNotContain("done in", stdout.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, "0:00")]
    [InlineData(75, "1:15")]
    [InlineData(3725, "1:02:05")]
    public void FormatDuration_Seconds_ShortClockForm(int seconds, string expected)
    {
        Assert.Equal(expected, ProgressReporter.FormatDuration(TimeSpan.FromSeconds(seconds)));
    }

    private static CliContext Context(TextWriter stdout, TextWriter stderr, bool json)
    {
        string[] args = json ? ["--json", "tokenize", "x"] : ["tokenize", "x"];
        return CliContext.Create(CliApp.CreateRootCommand().Parse(args), stdout, stderr);
    }

    private sealed class ManualTimeProvider : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}
