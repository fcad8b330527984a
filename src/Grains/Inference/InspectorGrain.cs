using System.Diagnostics;
using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Tokenization;
using Microsoft.Extensions.Logging;

namespace InsideLLMs.Distributed.Grains.Inference;

/// <summary>
/// Inspection of a version (key: its name) or of a run's latest weights (key: <c>live:{runId}</c>). The whole model is
/// rebuilt here from the parameters and runs on the compute threads. A version is reloaded when it is republished; a
/// live inspector answers from the weights it holds and fetches a newer step in the background, at most every
/// <see cref="InspectionOptions.LiveRefreshSeconds"/>, so a page polling it never waits for the fetch.
/// </summary>
public sealed class InspectorGrain(ComputeScheduler compute, DatasetCache datasets, InspectionOptions options, ILogger<InspectorGrain> logger)
    : Grain, IInspectorGrain, IDisposable
{
    private Owned<ModelInspector>? _inspector;
    private Loaded? _loaded;
    private Task? _refreshing;

    private string Key => this.GetPrimaryKeyString();

    private bool IsLive => Key.StartsWith(InferenceNames.LivePrefix, StringComparison.Ordinal);

    public async Task<TokenizedText> TokenizeAsync(string text)
    {
        if (text is null)
        {
            throw new ArgumentException("Give a text to tokenize.");
        }

        using var lease = (await LoadAsync()).Acquire();
        return lease.Use(inspector => inspector.Tokenize(text));
    }

    public async Task<EmbeddingView> EmbeddingsAsync() => await compute.RunAsync(await LoadAsync(), i => i.Embeddings());

    public async Task<IReadOnlyList<NeighbourInfo>> NeighboursAsync(string token, int count) =>
        await compute.RunAsync(await LoadAsync(), i => i.Neighbours(token, count));

    public async Task<AttentionView> AttentionAsync(string prompt) => await compute.RunAsync(await LoadAsync(), i => i.Attention(prompt));

    public async Task<QkvView> QkvAsync(string prompt, int layer, int head, int token) =>
        await compute.RunAsync(await LoadAsync(), i => i.Qkv(prompt, layer, head, token));

    public async Task<NextTokenView> NextTokenAsync(GenerationRequest request, int top) =>
        await compute.RunAsync(await LoadAsync(), i => i.NextToken(request, top));

    public async Task<LensView> LensAsync(string prompt, int? position, int top) =>
        await compute.RunAsync(await LoadAsync(), i => i.Lens(prompt, position, top));

    public async Task<AnswerView> AnswerAsync(string instruction, int maxTokens) =>
        await compute.RunAsync(await LoadAsync(), i => i.Answer(instruction, maxTokens));

    public async Task<double> AnswerLogProbabilityAsync(string instruction, string answer, bool ended) =>
        await compute.RunAsync(await LoadAsync(), i => i.AnswerLogProbability(instruction, answer, ended));

    public async Task<TrainingTokenView> TrainingTokenAsync(long? step, int? position, int top)
    {
        if (!IsLive)
        {
            throw new ArgumentException(
                $"'{Key}' is a published version: training tokens come from a run's batches; ask the live inspector {InferenceNames.LivePrefix}{{runId}}.");
        }

        var runId = Key[InferenceNames.LivePrefix.Length..];
        var status = await GrainFactory.GetGrain<ITrainingRunGrain>(runId).GetStatusAsync();
        if (status.Phase != RunPhase.NotStarted && status.Step == 0)
        {
            throw new InvalidOperationException($"Run '{runId}' has not completed a step yet: there is no trained batch to take a token from.");
        }

        var inspector = await LoadAsync(); // a run that never started fails here
        var spec = _loaded!.Spec;
        var data = datasets.Get(spec);
        return await compute.RunAsync(inspector, i =>
        {
            if (i.Step == 0)
            {
                throw new InvalidOperationException(
                    $"The weights held for run '{runId}' are from before its first step; they are refreshed within {options.LiveRefreshSeconds} s.");
            }

            var batchStep = step ?? i.Step;
            if (batchStep < 1 || batchStep > i.Step)
            {
                throw new ArgumentException($"The weights held for run '{runId}' have completed steps 1..{i.Step}; got step {batchStep}.");
            }

            // The data shard grain's draw for replica 0: a pure function of (seed, step, micro-batch, replica).
            var batch = data.TrainBatch(spec.Seed, batchStep - 1, microBatch: 0, replica: 0, spec.MicroBatches, spec.BatchSize);
            return i.TrainingToken(runId, batchStep, batch, microBatch: 0, row: 0, position ?? spec.Context / 2, top);
        });
    }

    public async Task<ArchitectureView> ArchitectureAsync()
    {
        if (Key.StartsWith(InferenceNames.LivePrefix, StringComparison.Ordinal))
        {
            throw new ArgumentException("The architecture view reports a published version's inference stage grains; publish the run first (versions publish NAME --run ID).");
        }

        var info = await GrainFactory.GetGrain<IModelVersionGrain>(Key).GetInfoAsync();
        var stages = await Task.WhenAll(Enumerable.Range(0, info.Stages).Select(s =>
            GrainFactory.GetGrain<IInferenceStageGrain>(InferenceNames.StageKey(Key, s)).DescribeAsync()));
        var spec = info.Spec;
        return new ArchitectureView(Key, spec.Layers, spec.Heads, spec.Width, spec.Context, info.VocabularySize, info.ParameterCount, stages);
    }

    private async Task<Owned<ModelInspector>> LoadAsync()
    {
        if (!IsLive)
        {
            var version = GrainFactory.GetGrain<IModelVersionGrain>(Key);
            var info = await version.GetInfoAsync();
            if (_inspector is null || _loaded is not { } held || held.Spec != info.Spec || held.Revision != info.Revision)
            {
                await ReplaceAsync(
                    new Loaded(info.Spec, info.Revision, info.Step, Stopwatch.GetTimestamp()),
                    version.GetParametersAsync,
                    async () => InferenceModels.ReadVocabulary(await version.GetVocabularyAsync()));
            }

            return _inspector!;
        }

        var runId = Key[InferenceNames.LivePrefix.Length..];
        var run = GrainFactory.GetGrain<ITrainingRunGrain>(runId);
        var status = await run.GetStatusAsync();
        if (status.Phase == RunPhase.NotStarted || status.Spec is null)
        {
            throw new ArgumentException($"Run '{runId}' has never started on this cluster: there are no live weights to inspect.");
        }

        var spec = status.Spec;
        if (TrainingRunSpecs.Objective(spec) == ObjectiveKind.Reward)
        {
            throw new ArgumentException($"Run '{runId}' trains a reward model: its head scores completions, so it has no next-token distribution or attention views to inspect as a language model.");
        }

        var wanted = new Loaded(spec, status.Step, status.Step, Stopwatch.GetTimestamp());
        if (_inspector is null || _loaded is not { } loaded || loaded.Spec != spec)
        {
            await ReplaceAsync(wanted, run.GetParametersAsync, () => Task.FromResult(datasets.Get(spec).Vocabulary)); // first use, or a new run under this id
        }
        else if (loaded.Revision != status.Step && _refreshing is null
            && Stopwatch.GetElapsedTime(loaded.LoadedAt).TotalSeconds >= options.LiveRefreshSeconds)
        {
            _refreshing = RefreshAsync(wanted, run);
        }

        return _inspector!;
    }

    /// <summary>Fetches the run's newer weights while requests go on being answered from the ones held.</summary>
    private async Task RefreshAsync(Loaded wanted, ITrainingRunGrain run)
    {
        try
        {
            await ReplaceAsync(wanted, run.GetParametersAsync, () => Task.FromResult(datasets.Get(wanted.Spec).Vocabulary));
        }
        catch (Exception e)
        {
            // The views keep the weights they have; the next request after the interval tries again.
            logger.LogWarning(e, "Inspector {Key}: fetching the weights of step {Step} failed", Key, wanted.Step);
            if (_loaded is { } held)
            {
                _loaded = held with { LoadedAt = Stopwatch.GetTimestamp() };
            }
        }
        finally
        {
            _refreshing = null;
        }
    }

    private async Task ReplaceAsync(Loaded wanted, Func<Task<IReadOnlyList<NamedTensor>>> parameters, Func<Task<ModelVocabulary>> vocabulary)
    {
        var named = await parameters();
        var words = await vocabulary();
        var config = TrainingRunSpecs.Model(wanted.Spec, words.Count);
        var lexicon = LexiconEmbeddings.LexiconOf(wanted.Spec.Corpus);
        var built = await compute.RunAsync(() => new ModelInspector(InferenceModels.Build(config, StageSpec.Whole(config), named), words, wanted.Step, lexicon));
        // Views still running on the old weights finish on them; it is freed after the last.
        _inspector?.Retire();
        _inspector = new Owned<ModelInspector>(built, $"inspector {Key}'s model (step {wanted.Step})", exclusive: true);
        _loaded = wanted with { LoadedAt = Stopwatch.GetTimestamp() };
    }

    public void Dispose() => _inspector?.Retire();

    /// <summary>What the held inspector was built from: the spec, the version's revision or the run's step, and when.</summary>
    private sealed record Loaded(TrainingRunSpec Spec, long Revision, long Step, long LoadedAt);
}
