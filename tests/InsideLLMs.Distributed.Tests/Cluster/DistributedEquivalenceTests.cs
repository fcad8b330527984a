using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Grains.Training;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Tests.Cluster;

/// <summary>
/// Distributed training computes what one process computes: the same per-step losses and final weights as the
/// reference trainer on the same global batch, within the tolerance PyTorch's pipelining tests use.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class DistributedEquivalenceTests(ClusterFixture fixture, ITestOutputHelper output)
{
    private const int Steps = 5;

    private static readonly DatasetCache Datasets = new();

    private static TrainingRunSpec Spec(int stages, int replicas, int microBatches, string schedule) => new()
    {
        Layers = 4, Heads = 2, Width = 32, Context = 32, Steps = Steps, BatchSize = 2, MicroBatches = microBatches,
        LearningRate = 3e-3, MinLearningRate = 3e-4, WarmupSteps = 2, Stages = stages, Replicas = replicas,
        Schedule = schedule, CheckpointInterval = 0, EvalInterval = 0, Seed = 21,
    };

    [Theory]
    [InlineData(1, 1, 1, "1f1b")]
    [InlineData(2, 1, 4, "gpipe")]
    [InlineData(2, 1, 4, "1f1b")]
    [InlineData(4, 1, 2, "1f1b")]
    [InlineData(2, 2, 4, "1f1b")]
    [InlineData(1, 3, 2, "1f1b")]
    public async Task Run_OnTheCluster_MatchesTheReferenceTrainerLossesAndWeights(int stages, int replicas, int microBatches, string schedule)
    {
        var spec = Spec(stages, replicas, microBatches, schedule);
        var (expectedLosses, expectedNorms, expectedSteps, expectedParameters) = Reference(spec);
        var runId = $"eq-{stages}-{replicas}-{microBatches}-{schedule}";

        var (history, parameters) = await TrainAsync(runId, spec);

        Assert.Equal(Enumerable.Range(1, Steps).Select(i => (long)i), history.Select(m => m.Step));
        for (var i = 0; i < Steps; i++)
        {
            output.WriteLine($"step {i + 1}: reference {expectedLosses[i]:F6}, cluster {history[i].Loss:F6}");
            Assert.True(Math.Abs(expectedLosses[i] - history[i].Loss) <= 4e-5 + 1e-5 * Math.Abs(expectedLosses[i]), $"loss at step {i + 1}");
            // A wrong loss scale or a gradient counted twice changes the norm before it changes the loss much.
            output.WriteLine($"         gradient norm: reference {expectedNorms[i]:F6}, cluster {history[i].GradientNorm:F6}");
            Assert.True(Math.Abs(expectedNorms[i] - history[i].GradientNorm) <= 1e-5 + 1e-4 * expectedNorms[i], $"gradient norm at step {i + 1}");
            // Per layer: a layer counted on two stages (the tied matrix) or left out shows here even when the total is close.
            var expectedLayers = expectedSteps[i].LayerGradients;
            var layers = history[i].LayerGradientNorms ?? throw new Xunit.Sdk.XunitException($"step {i + 1} has no per-layer norms");
            Assert.Equal(expectedLayers.Select(l => l.Layer), layers.Select(l => l.Layer));
            foreach (var (expected, actual) in expectedLayers.Zip(layers))
            {
                Assert.True(Math.Abs(expected.Norm - actual.Norm) <= 1e-5 + 1e-4 * expected.Norm, $"{actual.Layer} gradient norm at step {i + 1}: reference {expected.Norm}, cluster {actual.Norm}");
            }

            var update = expectedSteps[i].Update;
            output.WriteLine($"         update norm: reference {update.ChangeNorm:F6}, cluster {history[i].UpdateNorm:F6}; parameter norm {update.ParameterNorm:F4}, cluster {history[i].ParameterNorm:F4}");
            Assert.True(Math.Abs(update.ChangeNorm - history[i].UpdateNorm!.Value) <= 1e-5 + 1e-4 * update.ChangeNorm, $"update norm at step {i + 1}");
            Assert.True(Math.Abs(update.ParameterNorm - history[i].ParameterNorm!.Value) <= 1e-5 + 1e-4 * update.ParameterNorm, $"parameter norm at step {i + 1}");
        }

        await AssertReplicasAndTiedCopiesEqualAsync(runId, spec);

        Assert.Equal(expectedParameters.Keys.Order(), parameters.Keys.Order());
        foreach (var (name, expected) in expectedParameters)
        {
            using var actual = tensor(parameters[name].Values, parameters[name].Shape);
            using var reference = tensor(expected.Values, expected.Shape);
            Assert.True(actual.allclose(reference, rtol: 1e-5, atol: 4e-5), $"parameter {name}");
        }
    }

    [Fact]
    public async Task Run_SameConfigurationTwice_IsBitIdentical()
    {
        var spec = Spec(2, 2, 4, "1f1b");
        var (firstHistory, first) = await TrainAsync("twice-a", spec);
        var (secondHistory, second) = await TrainAsync("twice-b", spec);

        Assert.Equal(firstHistory.Select(m => m.Loss), secondHistory.Select(m => m.Loss));
        foreach (var (name, values) in first)
        {
            Assert.True(values.Values.AsSpan().SequenceEqual(second[name].Values), $"parameter {name} differs between identical runs");
        }
    }

    /// <summary>
    /// The supervisor wakes every registered run every few seconds (<c>EnsureRunningAsync</c>). A wake-up that arrived
    /// while the run's grain was still starting (it is reentrant, and the run is registered before its first write) once
    /// started a second step loop, "resuming" from step 0 beside the real start. Here wake-ups are sent back to back
    /// through the whole start: the run must end with one loop's result, no recovery and the weights of a run left alone.
    /// </summary>
    [Fact]
    public async Task Start_WithWakeUpsArrivingWhileItStarts_RunsOneLoop()
    {
        var spec = Spec(2, 2, 2, "1f1b") with { Steps = 3 };
        var run = fixture.Grains.GetGrain<ITrainingRunGrain>("woken-while-starting");
        var start = run.StartAsync(spec);
        var wakes = 0;
        do
        {
            // Several in flight at once, so some are queued at every point where the start awaits.
            await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => run.EnsureRunningAsync()));
            wakes += 8;
        }
        while (!start.IsCompleted);

        await start;
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        RunStatus status;
        while ((status = await run.GetStatusAsync()).Phase is RunPhase.Starting or RunPhase.Running or RunPhase.Recovering)
        {
            Assert.True(DateTime.UtcNow < deadline, $"still {status.Phase} at step {status.Step}");
            await Task.Delay(20);
        }

        output.WriteLine($"{wakes} wake-ups while the run started; it ended {status.Phase} at step {status.Step} with {status.Recoveries} recoveries");
        Assert.Equal(RunPhase.Completed, status.Phase);
        Assert.Empty(status.RecoveryLog);

        var (_, alone) = await TrainAsync("left-alone-while-starting", spec);
        var woken = (await run.GetParametersAsync()).ToDictionary(p => p.Name, p => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(p.Tensor.Data).ToArray());
        foreach (var (name, values) in alone)
        {
            Assert.True(values.Values.AsSpan().SequenceEqual(woken[name]), $"parameter {name} differs from the run left alone");
        }
    }

    [Fact]
    public async Task Run_AllReduceBytesPerStage_AreTwoTimesRMinusOneOverRTimesTheGradient()
    {
        var spec = Spec(2, 2, 2, "1f1b") with { Steps = 2 };
        var (history, parameters) = await TrainAsync("bytes", spec);

        // Each stage's gradient is its parameters (the last stage also holds its copy of the tied matrix).
        var data = Datasets.Get(spec);
        var config = TrainingRunSpecs.Model(spec, data);
        var tied = (long)config.VocabularySize * config.EmbeddingSize;
        var firstStage = parameters.Where(p => p.Key.StartsWith("wte", StringComparison.Ordinal) || p.Key.StartsWith("wpe", StringComparison.Ordinal) || p.Key.StartsWith("h.0.", StringComparison.Ordinal) || p.Key.StartsWith("h.1.", StringComparison.Ordinal)).Sum(p => (long)p.Value.Values.Length);
        var lastStage = parameters.Values.Sum(p => (long)p.Values.Length) - firstStage + tied;
        var expectedPerStep = new[] { firstStage, lastStage }.Sum(floats => 2.0 * (spec.Replicas - 1) / spec.Replicas * 4 * floats * spec.Replicas);
        foreach (var step in history)
        {
            output.WriteLine($"step {step.Step}: all-reduce {step.AllReduceBytes:N0} bytes, expected {expectedPerStep:N0}");
            Assert.InRange(step.AllReduceBytes, expectedPerStep * 0.99, expectedPerStep * 1.01);
            Assert.Equal(2L * spec.Replicas * 4 * tied, step.TiedGradientBytes); // both ends send their copy once, on each replica
        }
    }

    [Theory]
    [InlineData("gpipe", new[] { 4, 4 })]
    [InlineData("1f1b", new[] { 2, 1 })]
    public async Task Run_PeakStashedActivations_FollowTheSchedule(string schedule, int[] expected)
    {
        var spec = Spec(2, 1, 4, schedule) with { Steps = 2 };
        var (history, _) = await TrainAsync($"stash-{schedule}", spec);

        foreach (var step in history)
        {
            Assert.Equal(expected, step.PeakStashedActivations);
            var predicted = (spec.Stages - 1.0) / (spec.MicroBatches + spec.Stages - 1);
            output.WriteLine($"{schedule} step {step.Step}: measured bubble per stage {string.Join(", ", step.StageBubbleFractions.Select(b => b.ToString("F3")))}; predicted {predicted:F3}");
            Assert.All(step.StageBubbleFractions, b => Assert.InRange(b, 0.0, 1.0));
        }
    }

    [Theory]
    [InlineData(0, 1, 1, "1f1b", "at least one stage")]
    [InlineData(5, 1, 1, "1f1b", "4 layers into 5")]
    [InlineData(2, 0, 1, "1f1b", "replica")]
    [InlineData(2, 1, 0, "1f1b", "micro-batch")]
    [InlineData(2, 1, 2, "zigzag", "Unknown pipeline schedule")]
    public async Task Start_ImpossibleLayout_IsRejectedBeforeAnythingStarts(int stages, int replicas, int microBatches, string schedule, string message)
    {
        var run = fixture.Grains.GetGrain<ITrainingRunGrain>($"bad-{stages}-{replicas}-{microBatches}-{schedule}");
        var error = await Assert.ThrowsAsync<ArgumentException>(() => run.StartAsync(Spec(stages, replicas, microBatches, schedule)));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Equal(RunPhase.NotStarted, (await run.GetStatusAsync()).Phase);
    }

    private async Task<(IReadOnlyList<StepMetrics> History, Dictionary<string, (float[] Values, long[] Shape)> Parameters)> TrainAsync(string runId, TrainingRunSpec spec)
    {
        var run = fixture.Grains.GetGrain<ITrainingRunGrain>(runId);
        await run.StartAsync(spec);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        RunStatus status;
        while ((status = await run.GetStatusAsync()).Phase is RunPhase.Starting or RunPhase.Running or RunPhase.Recovering)
        {
            Assert.True(DateTime.UtcNow < deadline, $"run {runId} still {status.Phase} at step {status.Step}");
            await Task.Delay(50);
        }

        Assert.True(status.Phase == RunPhase.Completed, $"run {runId} ended {status.Phase}: {status.Error}");
        var parameters = (await run.GetParametersAsync()).ToDictionary(
            p => p.Name, p => (System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(p.Tensor.Data).ToArray(), p.Tensor.Shape));
        return (await run.GetHistoryAsync(0), parameters);
    }

    /// <summary>
    /// After the all-reduce every replica holds the same gradient bits and takes the same AdamW step, and both copies of
    /// the tied matrix (wte on the first stage, lm_head on the last) get the same summed gradient: all end bit-identical.
    /// </summary>
    private async Task AssertReplicasAndTiedCopiesEqualAsync(string runId, TrainingRunSpec spec)
    {
        async Task<Dictionary<string, byte[]>> Stage(int replica, int stage) =>
            (await fixture.Grains.GetGrain<IPipelineStageGrain>(RunLayout.StageKey(runId, replica, stage, spec.Stages)).GetParametersAsync())
                .ToDictionary(p => p.Name, p => p.Tensor.Data);

        for (var stage = 0; stage < spec.Stages; stage++)
        {
            var first = await Stage(0, stage);
            for (var replica = 1; replica < spec.Replicas; replica++)
            {
                var other = await Stage(replica, stage);
                Assert.Equal(first.Keys.Order(), other.Keys.Order());
                Assert.All(first, p => Assert.True(p.Value.AsSpan().SequenceEqual(other[p.Key]), $"{p.Key} of stage {stage}: replica {replica} differs from replica 0"));
            }
        }

        if (spec.Stages > 1)
        {
            for (var replica = 0; replica < spec.Replicas; replica++)
            {
                var wte = (await Stage(replica, 0))["wte.weight"];
                var head = (await Stage(replica, spec.Stages - 1))["lm_head.weight"];
                Assert.True(wte.AsSpan().SequenceEqual(head), $"replica {replica}: the last stage's lm_head differs from the first stage's wte");
            }
        }
    }

    private static (double[] Losses, double[] Norms, StepResult[] Steps, Dictionary<string, (float[] Values, long[] Shape)> Parameters) Reference(TrainingRunSpec spec)
    {
        var data = Datasets.Get(spec);
        using var trainer = new ReferenceTrainer(TrainingRunSpecs.Model(spec, data), data, TrainingRunSpecs.Reference(spec) with { Threads = 1 });
        var steps = Enumerable.Range(0, Steps).Select(_ => trainer.TrainStep()).ToArray();
        var parameters = trainer.Model.named_parameters().ToDictionary(
            p => p.name, p => (TensorIO.ToBytes(p.parameter) is var bytes ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).ToArray() : [], p.parameter.shape));
        return ([.. steps.Select(r => r.Loss)], [.. steps.Select(r => r.GradientNorm)], steps, parameters);
    }
}
