using System.Text;
using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Objectives;

namespace InsideLLMs.Distributed.Grains.Inference;

/// <summary>
/// A named copy of a run's weights. Publishing reads the run's status (metrics, spec) and replica 0's parameters, and
/// the vocabulary from the run's dataset, so the version no longer depends on the run or its corpus file.
/// </summary>
public sealed class ModelVersionGrain(
    [PersistentState("version", TrainingStorage.ProviderName)] IPersistentState<ModelVersionState> state,
    DatasetCache datasets) : Grain, IModelVersionGrain
{
    private string Name => this.GetPrimaryKeyString();

    public async Task<ModelVersionInfo> PublishAsync(string runId, int? stages = null)
    {
        if (!InferenceNames.IsValidVersionName(Name))
        {
            throw new ArgumentException($"'{Name}' is not a version name: use 1 to 64 letters, digits, '.', '-' or '_'.");
        }

        if (string.IsNullOrWhiteSpace(runId))
        {
            throw new ArgumentException("Name the run to publish from (--run ID).");
        }

        var status = await GrainFactory.GetGrain<ITrainingRunGrain>(runId).GetStatusAsync();
        if (status.Phase == RunPhase.NotStarted || status.Spec is not { } spec)
        {
            throw new ArgumentException(
                $"Run '{runId}' has never started on this cluster, so it has no weights to publish. Start it first: train start --run {runId}.");
        }

        if (TrainingRunSpecs.Objective(spec) == ObjectiveKind.Reward)
        {
            throw new ArgumentException(
                $"Run '{runId}' trains a reward model, whose head scores completions instead of predicting tokens: it cannot be published as a version to generate from.");
        }

        IReadOnlyList<NamedTensor> parameters;
        try
        {
            parameters = await GrainFactory.GetGrain<ITrainingRunGrain>(runId).GetParametersAsync();
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException($"Run '{runId}' ({status.Phase.ToString().ToLowerInvariant()}) could not hand over its weights: {e.Message}", e);
        }

        return await StoreAsync(runId, status.Step, status.LastLoss, status.ValidationLoss, spec, parameters, stages);
    }

    public async Task<ModelVersionInfo> PublishPolicyAsync(string ppoRunId, int? stages = null)
    {
        if (!InferenceNames.IsValidVersionName(Name))
        {
            throw new ArgumentException($"'{Name}' is not a version name: use 1 to 64 letters, digits, '.', '-' or '_'.");
        }

        if (string.IsNullOrWhiteSpace(ppoRunId))
        {
            throw new ArgumentException("Name the PPO run whose policy to publish (--ppo-run ID).");
        }

        var ppo = GrainFactory.GetGrain<IPpoRunGrain>(ppoRunId);
        var status = await ppo.GetStatusAsync();
        if (status.Phase == RunPhase.NotStarted || status.Spec is not { } ppoSpec)
        {
            throw new ArgumentException($"PPO run '{ppoRunId}' has never started on this cluster: there is no policy to publish.");
        }

        var source = await GrainFactory.GetGrain<ITrainingRunGrain>(ppoSpec.PolicyRun).GetStatusAsync();
        var spec = source.Spec ?? throw new InvalidOperationException($"PPO run '{ppoRunId}''s policy run '{ppoSpec.PolicyRun}' has no spec on this cluster.");
        IReadOnlyList<NamedTensor> parameters;
        try
        {
            parameters = await ppo.GetPolicyParametersAsync();
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException($"PPO run '{ppoRunId}' ({status.Phase.ToString().ToLowerInvariant()}) could not hand over its policy: {e.Message}", e);
        }

        var last = status.History.Count > 0 ? status.History[^1] : null;
        return await StoreAsync($"{InferenceNames.PpoRunPrefix}{ppoRunId}", status.Iteration, last?.PolicyLoss, null, spec, parameters, stages);
    }

    public Task<ModelVersionInfo> PublishPpoRolloutAsync(string ppoRunId, int iteration, TrainingRunSpec spec, IReadOnlyList<NamedTensor> parameters, int stages)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(parameters);
        if (!InferenceNames.IsValidVersionName(Name))
        {
            throw new ArgumentException($"'{Name}' is not a version name: use 1 to 64 letters, digits, '.', '-' or '_'.");
        }

        return StoreAsync($"{InferenceNames.PpoRunPrefix}{ppoRunId}", iteration, null, null, spec, parameters, stages);
    }

    /// <summary>Stores <paramref name="parameters"/> (a language model's, trained with <paramref name="spec"/>'s model and corpus) as this version.</summary>
    private async Task<ModelVersionInfo> StoreAsync(
        string runId, long step, double? loss, double? validation, TrainingRunSpec spec, IReadOnlyList<NamedTensor> parameters, int? stages)
    {
        var stageCount = stages ?? InferenceModels.DefaultStages(spec.Layers);
        if (stageCount < 1 || stageCount > spec.Layers)
        {
            throw new ArgumentException($"Cannot cut {spec.Layers} layers into {stageCount} inference stages: each stage needs at least one layer.");
        }

        var vocabulary = datasets.Get(spec).Vocabulary;
        var config = TrainingRunSpecs.Model(spec, vocabulary.Count);
        var embedding = parameters.FirstOrDefault(p => p.Name == "wte.weight")
            ?? throw new InvalidOperationException($"Run '{runId}' returned no wte.weight.");
        if (embedding.Tensor.Shape[0] != vocabulary.Count)
        {
            throw new InvalidOperationException($"Run '{runId}' has {embedding.Tensor.Shape[0]} embedding rows but its dataset's vocabulary has {vocabulary.Count} tokens.");
        }

        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
        {
            vocabulary.Write(writer);
        }

        var now = DateTimeOffset.UtcNow;
        var info = new ModelVersionInfo(
            Name, runId, step, loss, validation, now, spec, vocabulary.Count, config.ParameterCount, stageCount,
            Revision: Math.Max(now.UtcTicks, (state.State.Info?.Revision ?? 0) + 1));
        state.State = new ModelVersionState { Info = info, Parameters = [.. parameters], Vocabulary = buffer.ToArray() };
        await state.WriteStateAsync();
        await GrainFactory.GetGrain<IModelCatalogGrain>(InferenceNames.CatalogKey).AddAsync(info);
        return info;
    }

    public Task<ModelVersionInfo> GetInfoAsync() => Task.FromResult(Info());

    public Task<byte[]> GetVocabularyAsync()
    {
        Info();
        return Task.FromResult(state.State.Vocabulary!);
    }

    public Task<IReadOnlyList<NamedTensor>> GetParametersAsync()
    {
        Info();
        return Task.FromResult<IReadOnlyList<NamedTensor>>(state.State.Parameters);
    }

    public Task<IReadOnlyList<NamedTensor>> GetStageParametersAsync(int stage)
    {
        var info = Info();
        var config = TrainingRunSpecs.Model(info.Spec, info.VocabularySize);
        var stages = StageSpec.Partition(config, info.Stages);
        if ((uint)stage >= (uint)stages.Count)
        {
            throw new ArgumentException($"Version '{Name}' has inference stages 0..{stages.Count - 1}; got {stage}.");
        }

        return Task.FromResult(InferenceModels.StageParameters(stages[stage], state.State.Parameters));
    }

    private ModelVersionInfo Info() => state.State.Info
        ?? throw new ArgumentException($"Unknown version '{Name}': nothing was published under that name. Publish one with: versions publish {Name} --run ID.");
}
