using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Grains.Training;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Rlhf;
using InsideLLMs.Distributed.Maths.Tokenization;

namespace InsideLLMs.Distributed.Grains.Rlhf;

/// <summary>
/// One of a PPO run's models on whichever silo the stage placement chose, each a whole model that does not train here:
/// the policy's copy gives the log-probabilities of the rollouts (sampled through the inference pipeline's grains), the
/// value model's gives values, the frozen reference gives
/// log-probabilities, the frozen reward model scores. The policy and value model train on stage grains of their own
/// (<see cref="PpoEngine"/>); their copies here take the trained weights after every update. The maths runs on the
/// silo's compute threads; the model is freed with the activation. Its source weights are in grain storage, so a model
/// lost with its silo is initialised again on another silo whether or not the source runs' grains survived.
/// </summary>
[StagePlacement]
public sealed class PpoModelGrain(
    [PersistentState("ppo-model", TrainingStorage.ProviderName)] IPersistentState<PpoModelState> state,
    ComputeScheduler compute,
    DatasetCache datasets,
    ILocalSiloDetails silo) : Grain, IPpoModelGrain, IDisposable
{
    private Owned<GptStage>? _model;
    private Loaded? _loaded;

    private string Key => this.GetPrimaryKeyString();

    public async Task<string> InitializeAsync(string runId, PpoRole role, PpoRunSpec spec, bool fresh)
    {
        var options = PpoSpecs.Options(spec);
        var name = role.ToString().ToLowerInvariant();
        var sourceRun = role is PpoRole.Value or PpoRole.Reward ? spec.RewardRun : spec.PolicyRun;
        var source = GrainFactory.GetGrain<ITrainingRunGrain>(sourceRun);
        var status = await source.GetStatusAsync();
        if (fresh && status.Phase is RunPhase.Starting or RunPhase.Running or RunPhase.Recovering)
        {
            throw new InvalidOperationException($"Run '{sourceRun}' is still training (step {status.Step} of {status.TotalSteps}): start PPO from it once it has completed or stopped.");
        }

        if (status.Spec is not { } sourceSpec || status.Step == 0)
        {
            throw new ArgumentException($"Run '{sourceRun}' has no trained weights on this cluster to start the PPO {name} from.");
        }

        var objective = TrainingRunSpecs.Objective(sourceSpec);
        if (!PpoSpecs.Suits(role, objective))
        {
            throw new ArgumentException(role is PpoRole.Value or PpoRole.Reward
                ? $"Run '{sourceRun}' trains with objective '{sourceSpec.Objective}': the reward run must have objective 'reward'."
                : $"Run '{sourceRun}' trains with objective '{sourceSpec.Objective}': the policy starts from a language model (objective 'sft' or 'pretrain').");
        }

        IReadOnlyList<NamedTensor> parameters;
        if (fresh)
        {
            parameters = await source.GetParametersAsync();
        }
        else
        {
            var kept = state.State;
            if (kept.Run != runId || kept.Source is not { Count: > 0 } pinned)
            {
                throw new InvalidOperationException($"PPO {name} of run '{runId}' kept no weights to recover from.");
            }

            parameters = pinned;
        }

        var vocabulary = datasets.Get(sourceSpec).Vocabulary;
        var config = TrainingRunSpecs.Model(sourceSpec, vocabulary.Count);
        var head = role is PpoRole.Value or PpoRole.Reward ? StageHead.Score : StageHead.Language;
        var weights = parameters.ToWeights();
        if (head == StageHead.Score)
        {
            PpoTrainer.CheckRewardWeights(weights);
        }

        Release();
        var model = await compute.RunAsync(() => PpoTrainer.Frozen(config, head, weights, options.Seed));
        _model = new Owned<GptStage>(model, $"PPO {name} {Key}", exclusive: true);
        if (fresh)
        {
            // A fresh start owes nothing to an earlier run, and keeps its source weights from now on.
            state.State = new PpoModelState { Run = runId, Source = [.. parameters] };
            await state.WriteStateAsync();
        }

        _loaded = new Loaded(runId, role, options, vocabulary, config, head);
        return await GetSiloAsync();
    }

    public async Task LoadWeightsAsync(IReadOnlyList<NamedTensor> weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var loaded = Current();
        if (loaded.Role is PpoRole.Reference or PpoRole.Reward)
        {
            throw new InvalidOperationException($"The PPO {loaded.Role.ToString().ToLowerInvariant()} model {Key} is frozen.");
        }

        var parameters = weights.ToWeights();
        var model = await compute.RunAsync(() => PpoTrainer.Frozen(loaded.Config, loaded.Head, parameters, loaded.Options.Seed));
        _model?.Retire();
        _model = new Owned<GptStage>(model, $"PPO {loaded.Role.ToString().ToLowerInvariant()} {Key}", exclusive: true);
    }

    public async Task<double[]> ScoreAsync(string[] instructions, string[] texts)
    {
        var loaded = Require(PpoRole.Reward);
        if (instructions.Length != texts.Length)
        {
            throw new ArgumentException($"Each completion is scored against its instruction; got {instructions.Length} instructions and {texts.Length} completions.");
        }

        return await compute.RunAsync(Model(), m => instructions.Select((instruction, i) => RewardScores.Score(m, loaded.Vocabulary, instruction, [texts[i]])[0]).ToArray());
    }

    public Task<float[]> LogProbabilitiesAsync(PpoRowsMessage rows)
    {
        var loaded = Current();
        return loaded.Role is PpoRole.Reference or PpoRole.Policy
            ? compute.RunAsync(Model(), m => PpoModels.LogProbabilities(m, rows.ToRows()))
            : throw new InvalidOperationException($"The PPO {loaded.Role.ToString().ToLowerInvariant()} model {Key} gives no log-probabilities.");
    }

    public Task<float[]> ValuesAsync(PpoRowsMessage rows)
    {
        Require(PpoRole.Value);
        return compute.RunAsync(Model(), m => PpoModels.Values(m, rows.ToRows()));
    }

    public async Task<IReadOnlyList<NamedTensor>> GetParametersAsync() =>
        await compute.RunAsync(Model(), m => (IReadOnlyList<NamedTensor>)[.. m.named_parameters()
            .Where(p => p.name != "lm_head.weight")
            .Select(p => new NamedTensor(p.name, new TensorMessage(TensorIO.ToBytes(p.parameter), p.parameter.shape)))]);

    public Task<string> GetSiloAsync() => Task.FromResult(silo.SiloAddress.ToString());

    public void Dispose() => Release();

    private void Release()
    {
        _model?.Retire();
        _model = null;
    }

    private Loaded Current() => _loaded ?? throw new InvalidOperationException($"PPO model {Key} is not initialised (new activation: its silo was lost, or the run has not started).");

    private Loaded Require(PpoRole role)
    {
        var loaded = Current();
        return loaded.Role == role ? loaded : throw new InvalidOperationException($"PPO model {Key} is the {loaded.Role.ToString().ToLowerInvariant()}, not the {role.ToString().ToLowerInvariant()}.");
    }

    private Owned<GptStage> Model() => _model ?? throw new InvalidOperationException($"PPO model {Key} has no model.");

    private sealed record Loaded(string RunId, PpoRole Role, PpoOptions Options, ModelVocabulary Vocabulary, GptConfig Config, StageHead Head);
}

/// <summary>A PPO model grain's stored state: the run it serves and its source weights.</summary>
[GenerateSerializer, Alias("PpoModelState")]
public sealed class PpoModelState
{
    [Id(5)] public List<NamedTensor>? Source { get; set; }

    [Id(0)] public string? Run { get; set; }
}
