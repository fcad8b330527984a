using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Data;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Grains.Model;
using InsideLLMs.Distributed.Grains.Tokenization;
using InsideLLMs.Distributed.Grains.Training;

namespace InsideLLMs.Distributed.Grains.Inference;

/// <summary>
/// Inspection of a version (key: its name) or of a run's latest weights (key: <c>live:{runId}</c>, reloaded when the
/// run has taken steps since). The whole model is rebuilt here from the parameters and runs on the compute threads.
/// </summary>
public sealed class InspectorGrain(ComputeScheduler compute, DatasetCache datasets) : Grain, IInspectorGrain, IDisposable
{
    private ModelInspector? _inspector;
    private (string Source, long Revision)? _loaded;

    private string Key => this.GetPrimaryKeyString();

    public async Task<TokenizedText> TokenizeAsync(string text)
    {
        var inspector = await LoadAsync();
        return inspector.Tokenize(text ?? throw new ArgumentException("Give a text to tokenize."));
    }

    public async Task<EmbeddingView> EmbeddingsAsync()
    {
        var inspector = await LoadAsync();
        return await compute.RunAsync(inspector.Embeddings);
    }

    public async Task<IReadOnlyList<NeighbourInfo>> NeighboursAsync(string token, int count)
    {
        var inspector = await LoadAsync();
        return await compute.RunAsync(() => inspector.Neighbours(token, count));
    }

    public async Task<AttentionView> AttentionAsync(string prompt)
    {
        var inspector = await LoadAsync();
        return await compute.RunAsync(() => inspector.Attention(prompt));
    }

    public async Task<QkvView> QkvAsync(string prompt, int layer, int head, int token)
    {
        var inspector = await LoadAsync();
        return await compute.RunAsync(() => inspector.Qkv(prompt, layer, head, token));
    }

    public async Task<NextTokenView> NextTokenAsync(GenerationRequest request, int top)
    {
        var inspector = await LoadAsync();
        return await compute.RunAsync(() => inspector.NextToken(request, top));
    }

    public async Task<LensView> LensAsync(string prompt, int? position, int top)
    {
        var inspector = await LoadAsync();
        return await compute.RunAsync(() => inspector.Lens(prompt, position, top));
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

    private async Task<ModelInspector> LoadAsync()
    {
        TrainingRunSpec spec;
        long revision, step;
        Func<Task<IReadOnlyList<NamedTensor>>> parameters;
        Func<Task<ModelVocabulary>> vocabulary;
        if (Key.StartsWith(InferenceNames.LivePrefix, StringComparison.Ordinal))
        {
            var runId = Key[InferenceNames.LivePrefix.Length..];
            var run = GrainFactory.GetGrain<ITrainingRunGrain>(runId);
            var status = await run.GetStatusAsync();
            if (status.Phase == RunPhase.NotStarted || status.Spec is null)
            {
                throw new ArgumentException($"Run '{runId}' has never started on this cluster: there are no live weights to inspect.");
            }

            (spec, revision, step) = (status.Spec, status.Step, status.Step);
            parameters = run.GetParametersAsync;
            vocabulary = () => Task.FromResult(datasets.Get(status.Spec).Vocabulary);
        }
        else
        {
            var version = GrainFactory.GetGrain<IModelVersionGrain>(Key);
            var info = await version.GetInfoAsync();
            (spec, revision, step) = (info.Spec, info.Revision, info.Step);
            parameters = version.GetParametersAsync;
            vocabulary = async () => InferenceModels.ReadVocabulary(await version.GetVocabularyAsync());
        }

        if (_inspector is not null && _loaded == (spec.Corpus, revision))
        {
            return _inspector;
        }

        var named = await parameters();
        var words = await vocabulary();
        var config = TrainingSpecs.Model(spec, words.Count);
        var lexicon = LexiconEmbeddings.LexiconOf(spec.Corpus);
        var old = _inspector;
        _inspector = null;
        _inspector = await compute.RunAsync(() =>
        {
            old?.Dispose();
            return new ModelInspector(InferenceModels.Build(config, StageSpec.Whole(config), named), words, step, lexicon);
        });
        _loaded = (spec.Corpus, revision);
        return _inspector;
    }

    public void Dispose() => _inspector?.Dispose();
}
