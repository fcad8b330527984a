using System.Runtime.InteropServices;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Grains.Training;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Tests.Cluster;

/// <summary>
/// A run continued at another layout (resumeFrom): a run trained at (P, R) and stopped with a checkpoint is continued by
/// a run at (P', R'), whose stages start from the old stages' states cut for the new layout. Its first step's loss is one
/// process's resumed from the same checkpoint within 1e-6, and the steps after match as distributed training does.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ResumeAtAnotherLayoutTests(ClusterFixture fixture, ITestOutputHelper output)
{
    private const int Before = 4;
    private const int After = 3;

    private static readonly DatasetCache Datasets = new();

    private static TrainingRunSpec Spec(int stages, int replicas, int microBatches, int steps) => new()
    {
        Layers = 4, Heads = 2, Width = 32, Context = 32, Steps = steps, BatchSize = 2, MicroBatches = microBatches,
        LearningRate = 3e-3, MinLearningRate = 3e-4, WarmupSteps = 2, Stages = stages, Replicas = replicas,
        Schedule = "1f1b", CheckpointInterval = 2, EvalInterval = 0, Seed = 23,
    };

    [Theory]
    [InlineData(2, 1, 4, 1, 2, 2)]
    [InlineData(2, 2, 2, 4, 1, 4)]
    [InlineData(1, 1, 4, 2, 2, 2)]
    public async Task ARunStopped_ContinuedAtAnotherLayout_TakesTheStepsOfOneProcessResumedFromItsCheckpoint(
        int stages, int replicas, int microBatches, int newStages, int newReplicas, int newMicroBatches)
    {
        var source = $"layout-{stages}x{replicas}";
        var target = $"layout-{stages}x{replicas}-to-{newStages}x{newReplicas}";
        var first = Spec(stages, replicas, microBatches, Before);
        await CompleteAsync(fixture.Grains.GetGrain<ITrainingRunGrain>(source), first);

        // One process resumed from the same checkpoint: replica 0's stage states of step 4, cut into one stage.
        var old = await Task.WhenAll(Enumerable.Range(0, stages).Select(s =>
            fixture.Grains.GetGrain<IPipelineStageGrain>(RunLayout.StageKey(source, 0, s, stages)).GetCheckpointAsync(Before)));
        var next = Spec(newStages, newReplicas, newMicroBatches, Before + After) with { ResumeFrom = source };
        var data = Datasets.Get(next);
        var config = TrainingRunSpecs.Model(next, data);
        using var reference = new ReferenceTrainer(config, data, TrainingRunSpecs.Reference(next) with { Threads = 1 });
        reference.Restore(StageStateReshard.Reshard(old, StageStateReshard.StageNames(config, 1))[0], Before);
        var expected = Enumerable.Range(0, After).Select(_ => reference.TrainStep()).ToArray();

        var run = fixture.Grains.GetGrain<ITrainingRunGrain>(target);
        var status = await CompleteAsync(run, next);
        var history = await run.GetHistoryAsync(0);

        Assert.Equal(Before, status.Spec!.ResumeStep);
        Assert.Equal(Enumerable.Range(Before + 1, After).Select(i => (long)i), history.Select(m => m.Step));
        output.WriteLine($"({stages},{replicas}) -> ({newStages},{newReplicas}): step {Before + 1} loss {history[0].Loss:F8} vs one process {expected[0].Loss:F8}");
        Assert.True(Math.Abs(expected[0].Loss - history[0].Loss) <= 1e-6, $"the first step's loss differs by {Math.Abs(expected[0].Loss - history[0].Loss):E2}");
        for (var i = 1; i < After; i++)
        {
            Assert.True(Math.Abs(expected[i].Loss - history[i].Loss) <= 4e-5 + 1e-5 * Math.Abs(expected[i].Loss), $"loss at step {Before + 1 + i}");
        }

        var parameters = (await run.GetParametersAsync()).ToDictionary(p => p.Name, p => (MemoryMarshal.Cast<byte, float>(p.Tensor.Data).ToArray(), p.Tensor.Shape));
        foreach (var (name, parameter) in reference.Model.named_parameters())
        {
            using var want = tensor(MemoryMarshal.Cast<byte, float>(TensorIO.ToBytes(parameter)).ToArray(), parameter.shape);
            using var got = tensor(parameters[name].Item1, parameters[name].Shape);
            Assert.True(got.allclose(want, rtol: 1e-5, atol: 4e-5), $"parameter {name}");
        }
    }

    [Fact]
    public async Task ContinuingARunThatIsMissingOrOfAnotherModel_IsRefusedBeforeAnythingStarts()
    {
        var run = fixture.Grains.GetGrain<ITrainingRunGrain>("layout-refused");

        var missing = await Assert.ThrowsAsync<ArgumentException>(() => run.StartAsync(Spec(1, 1, 1, 6) with { ResumeFrom = "layout-never-ran" }));
        Assert.Contains("Run 'layout-never-ran' has never started", missing.Message, StringComparison.Ordinal);

        await CompleteAsync(fixture.Grains.GetGrain<ITrainingRunGrain>("layout-other-source"), Spec(1, 1, 1, 2));
        var other = await Assert.ThrowsAsync<ArgumentException>(() => run.StartAsync(Spec(1, 1, 1, 6) with { ResumeFrom = "layout-other-source", Width = 16 }));
        Assert.Contains("may change only its layout, batch and schedule", other.Message, StringComparison.Ordinal);
        Assert.Equal(RunPhase.NotStarted, (await run.GetStatusAsync()).Phase);
    }

    private static async Task<RunStatus> CompleteAsync(ITrainingRunGrain run, TrainingRunSpec spec)
    {
        await run.StartAsync(spec);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        RunStatus status;
        while ((status = await run.GetStatusAsync()).Phase is RunPhase.Starting or RunPhase.Running or RunPhase.Recovering)
        {
            Assert.True(DateTime.UtcNow < deadline, $"still {status.Phase} at step {status.Step}");
            await Task.Delay(20);
        }

        Assert.True(status.Phase == RunPhase.Completed, $"{status.Phase}: {status.Error}");
        return status;
    }
}
