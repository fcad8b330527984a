using System.Net;
using System.Net.Sockets;
using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Client.Commands;
using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Tests.Client;

/// <summary>The cluster verbs' behaviour without a cluster: input checks, and the error when no silo answers.</summary>
public sealed class ClusterVerbTests
{
    [Theory]
    [InlineData("cluster")]
    [InlineData("train", "watch", "--run", "x")]
    [InlineData("train", "stop")]
    public async Task Verb_NoSiloAtTheGateway_ExitsOneNamingTheAddress(params string[] verb)
    {
        var gateway = $"127.0.0.1:{ClosedPort()}";

        var run = await CliRun.RunAsync([.. verb, "--gateway", gateway]);

        Assert.True(run.ExitCode == ExitCodes.Failure, $"exit {run.ExitCode}: {run.Stderr}");
        Assert.StartsWith($"error: no silo answers at {gateway}", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.Stderr, StringComparison.Ordinal);
        Assert.Equal("", run.Stdout);
    }

    [Theory]
    [InlineData("--stages", "0", "A pipeline needs at least one stage; got 0")]
    [InlineData("--replicas", "0", "at least one data-parallel replica; got 0")]
    [InlineData("--micro-batches", "0", "at least one micro-batch per step; got 0")]
    [InlineData("--schedule", "zigzag", "Unknown pipeline schedule 'zigzag'")]
    [InlineData("--stages", "5", "Cannot cut 4 layers into 5 pipeline stages")]
    [InlineData("--heads", "3", "not divisible by 3 heads")]
    [InlineData("--encoding", "nope", "Unknown encoding 'nope'")]
    [InlineData("--steps", "0", "steps must be at least 1")]
    public async Task TrainStart_BadSpec_ExitsTwoBeforeConnecting(string option, string value, string message)
    {
        // The gateway answers nothing: a check that tried to connect first would exit 1 with "no silo answers".
        var run = await CliRun.RunAsync("train", "start", option, value, "--gateway", $"127.0.0.1:{ClosedPort()}");

        run.AssertUsageError();
        Assert.Contains(message, run.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--objective sft", "An sft run fine-tunes a published model: name the version its weights start from with initFrom (train start --init-from VERSION).")]
    [InlineData("--objective rlhf", "Unknown objective 'rlhf'. Objectives: pretrain, sft, reward.")]
    [InlineData("--objective reward", "A reward run starts from a published model")]
    [InlineData("--rankings cluster", "rankings 'cluster' are read only by reward runs")]
    [InlineData("--objective reward --init-from sft --rankings everywhere", "Unknown rankings 'everywhere': 'cluster'")]
    [InlineData("--objective reward --init-from sft --batch-size 6 --ranking-completions 4", "the batch size 6 must be a multiple of the 4 completions of a ranking")]
    [InlineData("--objective reward --init-from sft --ranking-completions 12", "a ranking orders 2 to 9 completions; got 12")]
    [InlineData("--resume-from a/b", "resumeFrom 'a/b' is not a run id")]
    [InlineData("--resume-from old --init-from base", "either from a version's weights (initFrom) or from another run's checkpoint (resumeFrom), not both")]
    [InlineData("--instructions pairs.jsonl", "instructions 'pairs.jsonl' are read only by sft runs")]
    [InlineData("--objective sft --init-from bad/name", "initFrom 'bad/name' is not a version name")]
    public async Task TrainStart_BadSftSpec_ExitsTwoBeforeConnecting(string options, string message)
    {
        var run = await CliRun.RunAsync(["train", "start", .. options.Split(' '), "--gateway", $"127.0.0.1:{ClosedPort()}"]);

        run.AssertUsageError();
        Assert.Contains(message, run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TrainTrace_WithoutOut_IsAUsageError()
    {
        var run = await CliRun.RunAsync("train", "trace");

        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        Assert.Contains("--out", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verb_BadGateway_IsAUsageError()
    {
        (await CliRun.RunAsync("cluster", "--gateway", "nohost")).AssertUsageError();
    }

    [Fact]
    public void WatchSnapshot_RunningRun_ShowsLossRateRecoveriesAndEtaFromRecentSteps()
    {
        var status = new RunStatus("r", RunPhase.Running, 10, 110, 2.5, null, 1234, 1, 5, null, null, null, []);
        StepMetrics[] recent =
        [
            new(9, 2.6, null, 1e-3, 1, 0.4, 1000, 0, 0, 0, 0, 0, 0, 0, 0, [], DateTimeOffset.UnixEpoch, []),
            new(10, 2.5, null, 1e-3, 1, 0.6, 1000, 0, 0, 0, 0, 0, 0, 0, 0, [], DateTimeOffset.UnixEpoch, []),
        ];

        var snapshot = TrainClusterCommands.Snapshot(status, recent);

        Assert.Equal(10, snapshot.Completed);
        Assert.Equal("running · loss 2.5000 · 1,234 tok/s · 1 recoveries", snapshot.Detail);
        Assert.Equal(TimeSpan.FromSeconds(50), snapshot.Eta); // 100 steps left x 0.5 s
    }

    /// <summary>A loopback port nothing listens on (bound once to find it, then released).</summary>
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
