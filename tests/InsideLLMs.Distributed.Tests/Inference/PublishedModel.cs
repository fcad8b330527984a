using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Inference;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Sampling;
using InsideLLMs.Distributed.Maths.Tokenization;
using InsideLLMs.Distributed.Tests.Cluster;

namespace InsideLLMs.Distributed.Tests.Inference;

/// <summary>A tiny run trained for a few steps on the test cluster and published once per test process as a 2-stage version.</summary>
internal static class PublishedModel
{
    public const string RunId = "infer-tiny";
    public const string Version = "tiny";

    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static ModelVersionInfo? _info;

    public static TrainingRunSpec Spec { get; } = new()
    {
        Layers = 2, Heads = 2, Width = 32, Context = 32, Steps = 4, BatchSize = 2, Stages = 2, CheckpointInterval = 0, EvalInterval = 0,
        LearningRate = 3e-3, WarmupSteps = 1, Seed = 5,
    };

    public static async Task<ModelVersionInfo> GetAsync(ClusterFixture fixture)
    {
        await Gate.WaitAsync();
        try
        {
            return _info ??= await TrainAndPublishAsync(fixture.Grains, RunId, Version, Spec);
        }
        finally
        {
            Gate.Release();
        }
    }

    public static async Task<ModelVersionInfo> TrainAndPublishAsync(IGrainFactory grains, string runId, string version, TrainingRunSpec spec, int? stages = 2)
    {
        var run = grains.GetGrain<ITrainingRunGrain>(runId);
        await run.StartAsync(spec);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        RunStatus status;
        while ((status = await run.GetStatusAsync()).Phase is RunPhase.Starting or RunPhase.Running or RunPhase.Recovering)
        {
            Assert.True(DateTime.UtcNow < deadline, $"run {runId} still {status.Phase} at step {status.Step}");
            await Task.Delay(50);
        }

        Assert.True(status.Phase == RunPhase.Completed, $"run {runId} ended {status.Phase}: {status.Error}");
        return await grains.GetGrain<IModelVersionGrain>(version).PublishAsync(runId, stages);
    }

    /// <summary>The whole model in this process, built from the version's parameters, and its vocabulary.</summary>
    public static async Task<(GptStage Model, ModelVocabulary Vocabulary)> WholeModelAsync(IGrainFactory grains, string version)
    {
        var grain = grains.GetGrain<IModelVersionGrain>(version);
        var info = await grain.GetInfoAsync();
        var parameters = await grain.GetParametersAsync();
        using var reader = new BinaryReader(new MemoryStream(await grain.GetVocabularyAsync()));
        var vocabulary = ModelVocabulary.Read(reader);
        var config = TrainingRunSpecs.Model(info.Spec, info.VocabularySize);
        return (InferenceModels.Build(config, StageSpec.Whole(config), parameters), vocabulary);
    }

    public static SamplingOptions Options(GenerationRequest r) => new(r.Temperature, r.TopK, r.TopP, r.Greedy, r.Seed);
}
