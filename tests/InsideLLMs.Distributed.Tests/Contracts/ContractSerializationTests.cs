using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Grains.Rlhf;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Grains.Inference;
using InsideLLMs.Distributed.Grains.Training;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Silo.Extensions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Persistence;
using Orleans.Serialization;
using Orleans.Storage;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Tests.Contracts;

/// <summary>
/// Every [GenerateSerializer] type survives Orleans' serializer and copier (messages between grains and silos), and every
/// grain state survives the grain storage serializer Redis storage writes with (JSON with type names): a state that could
/// not be read back once stopped a run from reactivating after a failover.
/// </summary>
public sealed class ContractSerializationTests : IDisposable
{
    private static readonly JsonSerializerOptions Comparison = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    private static readonly Assembly[] Assemblies = [typeof(RunStatus).Assembly, typeof(TrainingRunState).Assembly];

    private static readonly TrainingRunSpec Spec = new()
    {
        Layers = 2, Heads = 2, Width = 32, Context = 16, Steps = 40, BatchSize = 4, MicroBatches = 2, Stages = 2, Replicas = 2,
        Schedule = "gpipe", CheckpointInterval = 10, EvalInterval = 5, EvalBatches = null, Seed = 7, Dropout = 0.1,
        Objective = "sft", InitFrom = "base", Instructions = "pairs.jsonl", InitRevision = 638_000_000_000_000_001, Rankings = "cluster", RankingCompletions = 3,
    };

    private static readonly TensorMessage Tensor = new([1, 2, 3, 4, 5, 6, 7, 8], [1, 2]);

    private static readonly DateTimeOffset At = new(2025, 3, 4, 5, 6, 7, 890, TimeSpan.FromHours(2));

    // Silo services built but never started: the serializer, the copier and the grain storage a silo uses.
    private readonly IHost _memorySilo = Silo(StorageKind.Memory);
    private readonly IHost _redisSilo = Silo(StorageKind.Redis);

    public static TheoryData<string> ContractTypes => [.. Samples().Keys.Select(t => t.FullName!)];

    public static TheoryData<StorageKind, string> StateTypes
    {
        get
        {
            var data = new TheoryData<StorageKind, string>();
            foreach (var storage in new[] { StorageKind.Memory, StorageKind.Redis })
            {
                foreach (var type in States().Keys)
                {
                    data.Add(storage, type.FullName!);
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(ContractTypes))]
    public void Sample_ThroughOrleansSerializerAndCopier_ComesBackEqual(string typeName)
    {
        var (type, sample) = Samples().Single(s => s.Key.FullName == typeName);
        var serializer = _memorySilo.Services.GetRequiredService<Serializer>();
        var copier = _memorySilo.Services.GetRequiredService<DeepCopier>();

        var read = serializer.Deserialize<object>(serializer.SerializeToArray<object>(sample));
        var copy = copier.Copy<object>(sample);

        AssertDeepEqual(type, sample, read!);
        AssertDeepEqual(type, sample, copy!);
    }

    [Theory]
    [MemberData(nameof(StateTypes))]
    public void State_ThroughTheTrainingStoragesSerializer_ComesBackEqual(StorageKind storageKind, string typeName)
    {
        var (type, state) = States().Single(s => s.Key.FullName == typeName);
        var storage = StorageSerializer(storageKind);

        var read = RoundTripStorage(storage, type, state);

        AssertDeepEqual(type, state, read);
    }

    [Fact]
    public void EveryGenerateSerializerType_HasARoundTripSample()
    {
        var serialisable = Assemblies.SelectMany(a => a.GetTypes())
            .Where(t => t.GetCustomAttribute<GenerateSerializerAttribute>() is not null && !t.IsAbstract && !t.IsGenericTypeDefinition)
            .Where(t => t.Namespace?.StartsWith("InsideLLMs.", StringComparison.Ordinal) == true) // not the generated grain-call invokables
            .ToHashSet();

        var missing = serialisable.Except(Samples().Keys).Select(t => t.FullName).Order(StringComparer.Ordinal).ToArray();

        Assert.True(missing.Length == 0, $"add a round-trip sample to ContractSerializationTests.Samples for: {string.Join(", ", missing)}");
        Assert.True(serialisable.Count >= 40, $"only {serialisable.Count} [GenerateSerializer] types found: is the reflection looking in the right assemblies?");
    }

    [Fact]
    public void EveryGrainState_HasAStorageSample()
    {
        var states = Assemblies.SelectMany(a => a.GetTypes())
            .Where(t => t.IsClass && t.Name.EndsWith("State", StringComparison.Ordinal) && t.GetCustomAttribute<GenerateSerializerAttribute>() is not null);

        Assert.Empty(states.Except(States().Keys).Select(t => t.FullName));
    }

    [Fact]
    public void RunState_WithASnapshotFromTheInspectorsCode_SurvivesTheGrainStorageSerializer()
    {
        // The view exactly as a stage makes it (whatever list types LexiconEmbeddings builds), not a hand-made one.
        var spec = new TrainingRunSpec { Context = 32 };
        var vocabulary = new DatasetCache().Get(spec).Vocabulary;
        EmbeddingView view;
        using (var table = randn(vocabulary.Count, 16, generator: new TorchSharp.torch.Generator(3)))
        {
            view = new LexiconEmbeddings(vocabulary, SyntheticLexicon.Default).View(table, step: 12);
        }

        var state = new TrainingRunState { Spec = spec, Phase = RunPhase.Running, Step = 12 };
        state.EmbeddingSnapshots.Add(view);

        var read = (TrainingRunState)RoundTripStorage(StorageSerializer(StorageKind.Redis), typeof(TrainingRunState), state);

        Assert.True(view.Points.Count > 100);
        AssertDeepEqual(typeof(TrainingRunState), state, read);
    }

    public void Dispose()
    {
        _memorySilo.Dispose();
        _redisSilo.Dispose();
    }

    /// <summary>A silo host wired as the real silo is (<see cref="SiloExtensions.ConfigureInsideLlms"/>), built, not started.</summary>
    private static IHost Silo(StorageKind storage)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.UseOrleans(silo => silo.ConfigureInsideLlms(new SiloSettings { Storage = storage }));
        builder.Services.AddSerializer(s =>
        {
            foreach (var assembly in Assemblies)
            {
                s.AddAssembly(assembly);
            }
        });
        return builder.Build();
    }

    /// <summary>The serializer the training grain storage of that kind writes with (no Redis server is needed to build it).</summary>
    private IGrainStorageSerializer StorageSerializer(StorageKind storage) => storage == StorageKind.Redis
        ? _redisSilo.Services.GetRequiredService<IOptionsMonitor<RedisStorageOptions>>().Get(TrainingStorage.ProviderName).GrainStorageSerializer
        : _memorySilo.Services.GetRequiredService<IOptionsMonitor<MemoryGrainStorageOptions>>().Get(TrainingStorage.ProviderName).GrainStorageSerializer;

    private static object RoundTripStorage(IGrainStorageSerializer storage, Type type, object state)
    {
        var serialize = typeof(IGrainStorageSerializer).GetMethod(nameof(IGrainStorageSerializer.Serialize))!.MakeGenericMethod(type);
        var deserialize = typeof(IGrainStorageSerializer).GetMethod(nameof(IGrainStorageSerializer.Deserialize))!.MakeGenericMethod(type);
        var data = (BinaryData)serialize.Invoke(storage, [state])!;
        return deserialize.Invoke(storage, [data])!;
    }

    /// <summary>Same runtime type and the same JSON: records holding arrays and lists are compared element by element.</summary>
    private static void AssertDeepEqual(Type type, object expected, object actual)
    {
        Assert.IsType(type, actual);
        Assert.Equal(JsonSerializer.Serialize(expected, type, Comparison), JsonSerializer.Serialize(actual, type, Comparison));
    }

    /// <summary>One realistic instance of every [GenerateSerializer] type, by type.</summary>
    private static Dictionary<Type, object> Samples()
    {
        var trace = new TraceSpan("run/0/1", "S127.0.0.1:11111:1", 1, 0, 3, "forward", 9, 1_700_000_000_000_000, 1_700_000_000_004_200);
        var piece = new TokenPieceInfo(" cat", 3, 4, 3797, 17);
        var alternative = new TokenAlternative(17, 3797, " cat", 4.25f, 0.42, 0.61);
        var stageInfo = new InferenceStageInfo("base/0", 0, [0, 1], true, false, 123_456, "S127.0.0.1:11111:1", 2, 99);
        var point = new EmbeddingPointInfo(17, " cat", "animal", "animals", 0.5f, -1.25f);
        var version = new ModelVersionInfo("base", "default", 1500, 1.23, 1.31, At, Spec, 812, 456_789, 2, 638_000_000_000);
        var layer = new LayerGradientNorm("h.0", 0.31);
        var trainingToken = new TrainingTokenInfo(17, 3797, " cat");
        var metrics = new StepMetrics(
            12, 2.5, 2.7, 1e-3, 0.8, 0.25, 40_000, 0.1, 0.05, 0.07, 0.03, 1_000_000, 900_000, 2_000_000, 300_000,
            new[] { 0.1, 0.3 }, At, new[] { 2, 1 }, new[] { 0.1, 0.25 }, new[] { layer with { Layer = "embedding" }, layer }, 0.012, 24.5);
        var samples = new object[]
        {
            // Training
            new ActivationMessage(9, 3, Tensor, 1_700_000_000_000_123),
            new ChunkMessage(9, 2, [9, 8, 7, 6]),
            new GradientMessage(9, 3, Tensor with { Shape = [2, 1] }, 1_700_000_000_000_456),
            new NamedTensor("h.0.attn.c_attn.weight", Tensor),
            new RecoveryRecord(37, 30, "silo S127.0.0.1:11112 died", At, 4.5),
            new RegistryAdmission(false, new[] { "default", "other" }, 617_000_000),

            // RLHF
            RankingSample.Task,
            RankingSample.Receipt,
            new RankingTaskView(RankingSample.Task, 2, 1, 0.8333333333333334, false),
            new RankingSummary(12, 10, 5_012, 4_000, 9, 0.91),
            new RankingExample("task-000012#1", " describe the dog at the river", new[] { "the dog ran.", "a cat sat." }, new[] { 1, 0 }, true),
            new RewardModelInfo("rm", 300, 0.0765, 0.047, 1024, 64, 300, 400, 310, 380),
            new RewardScoresView("rm", 300, new[] { 0.12, -0.03 }, new[] { 0.94, -2.26 }, new[] { 2.0, 0.5 }, new[] { 0, 1 }),
            PpoSample.Spec,
            PpoSample.Iteration,
            PpoSample.SampleView,
            PpoSample.Placement,
            PpoRole.Reward,
            PpoSample.Status,
            PpoSample.Rows,
            new PpoTokensMessage([0, -1.5f, -0.25f, 0], [0, 0.7f, -0.7f, 0], [0, 0.1f, 0.2f, 0], [0, 1.1f, 1.2f, 0]),
            new PpoUpdateBatch(24, PpoSample.Rows, new PpoTokensMessage([0, -1.5f, -0.25f, 0], [0, 0.7f, -0.7f, 0], [0, 0.1f, 0.2f, 0], [0, 1.1f, 1.2f, 0]), [[1, 0], [0, 1]]),
            new SftCompleted("default#2", "sft", "sft", 300, At),
            new RankingBatchReady("default#2", 210, 200, At),
            new RewardModelTrained("default#2", "reward", 300, 0.72, At),
            new PolicyUpdated("default#2", "ppo", 7, 100, 0.83, 2.1, At),
            new ModelPublished("default#2", "assistant", "ppo", 100, At),
            PpoSample.Pipeline,
            new RlhfPipelineStatus("running", PpoSample.Pipeline, "ppo", [PpoSample.Stage], [PpoSample.Event], null),
            PpoSample.Stage,
            PpoSample.Event,
            RunPhase.Recovering,
            new RunStatus("default", RunPhase.Running, 12, 40, 2.5, 2.7, 40_000, 1, 10, null, Spec, At, new[] { new RecoveryRecord(37, 30, "lost", At, 4.5) }),
            new StageAssignment("default", 1, 0, Spec),
            new StageReduceReport(1, 0, 4096, 2048, 8192, 0.64, 0.02, new[] { trace with { Op = "allreduce", MicroBatch = -1 } }, new[] { layer }),
            new StageUpdateReport(1, 0, 1.5e-4, 600.25, trace with { Op = "optimizer", MicroBatch = -1 }),
            layer,
            new StageStepReport(1, 0, "S127.0.0.1:11111:1", 5.1, 0.2, 0.05, 8192, 0, 2, new[] { trace }, 0.01) { LossWeight = 37, PpoStatisticSums = [3, 0.002, 19.5, 37] },
            metrics,
            Tensor,
            new TiedGradientMessage(9, true, Tensor),
            new TokenBatchMessage([1, 0, 0, 0, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0, 0, 0], 1, 1)
            {
                StepTargetCount = 3, Ppo = new PpoTokensMessage([-1.5f], [0.7f], [0.1f], [1.1f]),
            },
            trace,
            Spec,
            new ValidationResult(123.5, 64),

            // Inference
            new ArchitectureView("base", 2, 2, 32, 16, 812, 456_789, new[] { stageInfo, stageInfo with { GrainKey = "base/1", Stage = 1, Layers = [1], HasEmbedding = false, HasHead = true } }),
            new AttentionHeadView(1, 0, [[1f], [0.25f, 0.75f]]),
            new AttentionView(new[] { piece, piece with { Text = " sat", ModelId = 18 } }, new[] { new AttentionHeadView(0, 1, [[1f], [0.5f, 0.5f]]) }),
            point,
            new EmbeddingView(new[] { point, point with { ModelId = 18, Text = " Paris", Category = "place", Group = "places" } }, 0.37, 0.85, 250),
            new GeneratedTokenInfo(0, 3, 17, 3797, " cat", 0.42, 0.61, 4.25f, new[] { alternative }, "stop", 12.5),
            new GenerationRequest("the cat", 0.8, 40, 0.95, false, 42, 16, "."),
            stageInfo,
            new LensLayerView(1, new[] { alternative }),
            new LensView(new[] { piece }, 0, new[] { new LensLayerView(0, new[] { alternative }) }),
            version,
            new NeighbourInfo(18, " dog", 0.93, "animal"),
            new AnswerView(" describe the dog at the river", " the dog ran to the river.", true, 8, 1500),
            new NextTokenView(new[] { piece }, new[] { alternative }, new[] { alternative with { SampledProbability = 1 } }, 1, 812),
            new QkvView(
                1, 0, 1, 16, 0.25, new[] { piece, piece }, [0.1f, 0.2f], [0.3f, 0.4f], [[0.5f, 0.6f], [0.7f, 0.8f]], [[1f, 2f], [3f, 4f]],
                [0.11, 0.22], [0.03, 0.06], [false, false], [0.4, 0.6], [2.2, 3.2], [2.2f, 3.2f]),
            new StageForward("session-1", 638_000_000_000, 4, [5, 0, 0, 0, 0, 0, 0, 0], null),
            alternative,
            piece,
            new TokenizedText("gpt2", new[] { piece }),
            trainingToken,
            new TrainingTokenView("default", 12, 12, 0, 0, 16, new[] { trainingToken with { ModelId = 0, SourceId = 50256, Text = "<eod>" } }, trainingToken,
                new[] { alternative }, 0.42, 0.8675, 1),

            // Grains: placement and grain states
            StagePlacement.Instance,
        };

        var all = samples.ToDictionary(s => s.GetType());
        foreach (var (type, state) in States())
        {
            all.Add(type, state);
        }

        return all;
    }

    /// <summary>One realistic instance of every grain state, as the grains fill them.</summary>
    private static Dictionary<Type, object> States()
    {
        var assignment = new StageAssignment("default", 1, 0, Spec);
        var metrics = new StepMetrics(
            10, 2.5, null, 1e-3, 0.8, 0.25, 40_000, 0.1, 0.05, 0.07, 0.03, 1_000_000, 900_000, 2_000_000, 300_000,
            new[] { 0.1, 0.3 }, At, new[] { 2, 1 }, null, new[] { new LayerGradientNorm("embedding", 0.5), new LayerGradientNorm("ln_f", 0.01) }, 0.012, 24.5);
        var point = new EmbeddingPointInfo(17, " cat", "animal", "animals", 0.5f, -1.25f);
        var run = new TrainingRunState
        {
            Spec = Spec, Phase = RunPhase.Running, Step = 10, LastCheckpointStep = 10, StartedAt = At, Error = null,
            History = [metrics, metrics with { Step = 11, ValidationLoss = 2.6 }, metrics with { Step = 12, LayerGradientNorms = null, UpdateNorm = null, ParameterNorm = null }],
            Recoveries = [new RecoveryRecord(7, 5, "silo lost", At, 3.5)],
            EmbeddingSnapshots = [new EmbeddingView(new[] { point, point with { ModelId = 18, Text = " blue", Category = "colour", Group = "colours" } }, 0.4, 0.5, 10)],
        };
        var version = new ModelVersionInfo("base", "default", 1500, 1.23, null, At, Spec, 812, 456_789, 2, 638_000_000_000);
        return new Dictionary<Type, object>
        {
            [typeof(StageCheckpointState)] = new StageCheckpointState { Assignment = assignment, CurrentStep = 20, Current = [1, 2, 3], PreviousStep = 10, Previous = [4, 5] },
            [typeof(DataShardState)] = new DataShardState { Spec = Spec, Replica = 1 },
            [typeof(TrainingRunState)] = run,
            [typeof(TrainingRegistryState)] = new TrainingRegistryState { ActiveRuns = ["default", "other"], EstimatedBytes = new() { ["default"] = 108_000_000, ["other"] = 617_000_000 } },
            [typeof(ModelVersionState)] = new ModelVersionState { Info = version, Parameters = [new NamedTensor("wte.weight", Tensor)], Vocabulary = [1, 2, 3] },
            [typeof(ModelCatalogState)] = new ModelCatalogState { Versions = new() { ["base"] = version } },
            [typeof(RankingTaskState)] = new RankingTaskState { Task = RankingSample.Task, Rankings = [RankingSample.Receipt, RankingSample.Receipt with { ReceiptId = "task-000012#2", Annotator = "sim-1", Simulated = true, Sequence = 2 }] },
            [typeof(RankingBoardState)] = new RankingBoardState { TaskIds = ["task-000000", "task-000001"], NextTask = 2 },
            [typeof(PpoModelState)] = new PpoModelState { Run = "ppo", Source = [new NamedTensor("wte.weight", Tensor)] },
            [typeof(PpoRunState)] = new PpoRunState
            {
                Spec = PpoSample.Spec, Phase = RunPhase.Running, Iteration = 7, KlCoefficient = 0.1, LastCheckpointIteration = 5, CheckpointKlCoefficient = 0.1,
                NormalizationMean = -0.43, NormalizationStd = 0.97, History = [PpoSample.Iteration], Samples = [PpoSample.SampleView], Models = [PpoSample.Placement],
                Recoveries = [new RecoveryRecord(7, 5, "silo lost", At, 0.1)], Error = null, StartedAt = At,
                PolicyEngine = Spec with { Objective = "ppo-policy", Stages = 2 }, ValueEngine = Spec with { Objective = "ppo-value" },
                TrainingStages = [PpoSample.Placement with { Grain = "ppo/ppo/policy/0/1-of-2" }],
            },
            [typeof(RlhfPipelineState)] = new RlhfPipelineState
            {
                Generation = 2, Phase = "running", Spec = PpoSample.Pipeline, Stage = "ppo", Events = [PpoSample.Event],
                Stages = [new StageRecord { Name = "ppo", State = "running", Target = "ppo", Progress = "iteration 7 of 100", StartedAt = At, Announced = false, Reported = 7 }],
            },
            [typeof(StageRecord)] = new StageRecord { Name = "sft", State = "done", Target = "sft", Progress = "step 300 of 300", StartedAt = At, EndedAt = At, Announced = true },
            [typeof(RankingSnapshotState)] = new RankingSnapshotState
            {
                Rankings = [new RankingExample("task-000012#1", " describe the dog at the river", ["the dog ran.", "a cat sat."], [1, 0], false)],
            },
        };
    }
}

internal static class PpoSample
{
    private static readonly DateTimeOffset At = new(2025, 3, 4, 5, 6, 7, 890, TimeSpan.Zero);

    public static PpoRunSpec Spec { get; } = new("sft", "reward", Iterations: 100, KlTarget: 3, CheckpointInterval: 5, Stages: 2, Replicas: 2, MicroBatches: 2);

    public static PpoIterationView Iteration { get; } = new(7, 0.83, 0.8, 2.9, 2.1, 0.1, 0.62, -0.01, 0.02, 0.0004, 0.01, 0.6, 0.88, 1, 18.5, 0.35, 0.05, 0.04, 0.04, 1.18, 1.65);

    public static PpoSampleView SampleView { get; } = new(7, " describe the dog at the river", " the dog ran to the river.", true, 0.9, 3.5, 1.25);

    public static PpoModelPlacement Placement { get; } = new("policy", "ppo/ppo/0/0-of-4", "S127.0.0.1:11111:1");

    public static PpoRunStatus Status { get; } = new("ppo", RunPhase.Running, Spec, 7, 0.1, 5, -0.43, 0.97, [Iteration], [SampleView], [Placement], [new RecoveryRecord(7, 5, "lost", At, 0.1)], null)
    {
        TrainingStages = [Placement with { Role = "value", Grain = "ppo/ppo/value/1/0-of-1" }],
    };

    public static PpoRowsMessage Rows { get; } = new([0, 5, 6, 0], [-100, 6, 0, -100], 1, 4, [1], [2]);

    public static RlhfPipelineSpec Pipeline { get; } = new(["reward", "ppo"], MinRankings: 200, PpoIterations: 50);

    public static RlhfStageView Stage { get; } = new("ppo", "running", "ppo", "iteration 7 of 50", At, null);

    public static RlhfEventView Event { get; } = new("RewardModelTrained", "run reward at step 300", At);
}

internal static class RankingSample
{
    private static readonly DateTimeOffset At = new(2025, 3, 4, 5, 6, 7, 890, TimeSpan.Zero);

    public static RankingTaskInfo Task { get; } = new("task-000012", " describe the dog at the river", new[] { " the dog ran to the river.", " the dog were sad", " it went to the bank and watched the water." }, "base", At, At.AddHours(1));

    public static RankingReceipt Receipt { get; } = new("task-000012#1", "task-000012", "ann", new[] { 2, 0, 1 }, false, At.AddMinutes(3), 1, false);
}
