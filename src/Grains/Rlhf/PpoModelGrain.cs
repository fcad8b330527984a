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
/// One of a PPO run's models on whichever silo the stage placement chose: the policy (a <see cref="PpoLearner"/> that
/// also samples), the value model (a <see cref="PpoLearner"/> on a score head), the frozen reference or the frozen reward
/// model. The maths runs on the silo's compute threads; the model is freed with the activation. Its source weights and a
/// trained model's checkpoints (the last two) are in grain storage, so a model lost with its silo is initialised again,
/// on another silo, at the run's last checkpoint, whether or not the source runs' grains survived.
/// </summary>
[StagePlacement]
public sealed class PpoModelGrain(
    [PersistentState("ppo-model", TrainingStorage.ProviderName)] IPersistentState<PpoModelState> state,
    ComputeScheduler compute,
    DatasetCache datasets,
    ILocalSiloDetails silo) : Grain, IPpoModelGrain, IDisposable
{
    private Owned<PpoLearner>? _learner;
    private Owned<GptStage>? _frozen;
    private Loaded? _loaded;

    private string Key => this.GetPrimaryKeyString();

    public async Task<string> InitializeAsync(string runId, PpoRole role, PpoRunSpec spec, bool fresh, int restoreIteration)
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
        byte[]? saved = null;
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
            if (restoreIteration > 0 && role is PpoRole.Policy or PpoRole.Value)
            {
                saved = kept.CurrentIteration == restoreIteration ? kept.Current
                    : kept.PreviousIteration == restoreIteration ? kept.Previous
                    : throw new InvalidOperationException($"PPO {name} of run '{runId}' holds no checkpoint of iteration {restoreIteration}.");
            }
        }

        var vocabulary = datasets.Get(sourceSpec).Vocabulary;
        var config = TrainingRunSpecs.Model(sourceSpec, vocabulary.Count);
        var weights = parameters.ToWeights();
        Release();
        if (role is PpoRole.Reference or PpoRole.Reward)
        {
            var head = role == PpoRole.Reward ? StageHead.Score : StageHead.Language;
            if (role == PpoRole.Reward)
            {
                PpoTrainer.CheckRewardWeights(weights);
            }

            var model = await compute.RunAsync(() => PpoTrainer.Frozen(config, head, weights, options.Seed));
            _frozen = new Owned<GptStage>(model, $"PPO {name} {Key}", exclusive: true);
        }
        else
        {
            var learner = await compute.RunAsync(() =>
            {
                var created = new PpoLearner(config, role == PpoRole.Policy ? ObjectiveKind.PpoPolicy : ObjectiveKind.PpoValue, options, weights);
                try
                {
                    if (saved is not null)
                    {
                        created.LoadState(saved);
                    }

                    return created;
                }
                catch
                {
                    created.Dispose();
                    throw;
                }
            });
            _learner = new Owned<PpoLearner>(learner, $"PPO {name} {Key}", exclusive: true);
        }

        if (fresh)
        {
            // A fresh start owes nothing to an earlier run's checkpoints, and keeps its source weights from now on.
            state.State = new PpoModelState { Run = runId, Source = [.. parameters] };
            await state.WriteStateAsync();
        }

        _loaded = new Loaded(runId, role, options, vocabulary, new PpoPrompts(PpoPrompts.DefaultSeed));
        return await GetSiloAsync();
    }

    public async Task<double[]> ScoreAsync(string[] instructions, string[] texts)
    {
        var loaded = Require(PpoRole.Reward);
        if (instructions.Length != texts.Length)
        {
            throw new ArgumentException($"Each completion is scored against its instruction; got {instructions.Length} instructions and {texts.Length} completions.");
        }

        return await compute.RunAsync(Frozen(), m => instructions.Select((instruction, i) => RewardScores.Score(m, loaded.Vocabulary, instruction, [texts[i]])[0]).ToArray());
    }

    public async Task<PpoRolloutsMessage> SampleAsync(int iteration)
    {
        var loaded = Require(PpoRole.Policy);
        return (await compute.RunAsync(Learner(), l => PpoModels.Sample(l.Model, loaded.Vocabulary, loaded.Options, loaded.Prompts.At, iteration))).ToMessage();
    }

    public Task<float[]> LogProbabilitiesAsync(PpoRowsMessage rows)
    {
        var loaded = Current();
        return loaded.Role switch
        {
            PpoRole.Reference => compute.RunAsync(Frozen(), m => PpoModels.LogProbabilities(m, rows.ToRows())),
            PpoRole.Policy => compute.RunAsync(Learner(), l => PpoModels.LogProbabilities(l.Model, rows.ToRows())),
            _ => throw new InvalidOperationException($"The PPO {loaded.Role.ToString().ToLowerInvariant()} model {Key} gives no log-probabilities."),
        };
    }

    public Task<float[]> ValuesAsync(PpoRowsMessage rows)
    {
        Require(PpoRole.Value);
        return compute.RunAsync(Learner(), l => PpoModels.Values(l.Model, rows.ToRows()));
    }

    public async Task<IReadOnlyList<PpoUpdateMessage>> UpdateAsync(PpoRowsMessage rows, PpoTokensMessage tokens, IReadOnlyList<int[]> minibatches)
    {
        var loaded = Current();
        if (loaded.Role is PpoRole.Reference or PpoRole.Reward)
        {
            throw new InvalidOperationException($"The PPO {loaded.Role.ToString().ToLowerInvariant()} model {Key} is frozen.");
        }

        var statistics = await compute.RunAsync(Learner(), l => l.Update(rows.ToRows(), tokens.ToTokens(), minibatches));
        return [.. statistics.Select(s => new PpoUpdateMessage(s.Loss, s.ClipFraction, s.ApproximateKl, s.Entropy))];
    }

    public async Task SaveCheckpointAsync(int iteration)
    {
        var loaded = Current();
        if (loaded.Role is PpoRole.Reference or PpoRole.Reward)
        {
            return; // nothing of a frozen model changes
        }

        var bytes = await compute.RunAsync(Learner(), l => l.SaveState());
        var s = state.State;
        if (s.CurrentIteration != iteration)
        {
            (s.PreviousIteration, s.Previous) = (s.CurrentIteration, s.Current);
        }

        (s.CurrentIteration, s.Current, s.Run) = (iteration, bytes, loaded.RunId);
        await state.WriteStateAsync();
    }

    public async Task<IReadOnlyList<NamedTensor>> GetParametersAsync()
    {
        if (_frozen is not null)
        {
            return await compute.RunAsync(_frozen, m => (IReadOnlyList<NamedTensor>)[.. m.named_parameters().Select(p => new NamedTensor(p.name, new TensorMessage(TensorIO.ToBytes(p.parameter), p.parameter.shape)))]);
        }

        return await compute.RunAsync(Learner(), l => (IReadOnlyList<NamedTensor>)[.. l.Parameters().Where(p => p.Name != "lm_head.weight").Select(p => new NamedTensor(p.Name, new TensorMessage(p.Data, p.Shape)))]);
    }

    public Task<string> GetSiloAsync() => Task.FromResult(silo.SiloAddress.ToString());

    public void Dispose() => Release();

    private void Release()
    {
        _learner?.Retire();
        _frozen?.Retire();
        (_learner, _frozen) = (null, null);
    }

    private Loaded Current() => _loaded ?? throw new InvalidOperationException($"PPO model {Key} is not initialised (new activation: its silo was lost, or the run has not started).");

    private Loaded Require(PpoRole role)
    {
        var loaded = Current();
        return loaded.Role == role ? loaded : throw new InvalidOperationException($"PPO model {Key} is the {loaded.Role.ToString().ToLowerInvariant()}, not the {role.ToString().ToLowerInvariant()}.");
    }

    private Owned<PpoLearner> Learner() => _learner ?? throw new InvalidOperationException($"PPO model {Key} has no trained model.");

    private Owned<GptStage> Frozen() => _frozen ?? throw new InvalidOperationException($"PPO model {Key} has no frozen model.");

    private sealed record Loaded(string RunId, PpoRole Role, PpoOptions Options, ModelVocabulary Vocabulary, PpoPrompts Prompts);
}

/// <summary>A PPO model grain's stored state: its source weights, and the last two checkpoints of its trained model.</summary>
[GenerateSerializer, Alias("PpoModelState")]
public sealed class PpoModelState
{
    [Id(5)] public List<NamedTensor>? Source { get; set; }

    [Id(0)] public string? Run { get; set; }

    [Id(1)] public int CurrentIteration { get; set; }

    [Id(2)] public byte[]? Current { get; set; }

    [Id(3)] public int PreviousIteration { get; set; }

    [Id(4)] public byte[]? Previous { get; set; }
}
