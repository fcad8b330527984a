using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Inspection;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Sampling;
using InsideLLMs.Distributed.Maths.Tokenization;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Grains.Inference;

/// <summary>
/// The inspection views over a whole model in this process: tokens, embeddings, attention, Q/K/V, the next-token
/// distribution and the logit lens. Synchronous and not thread-safe: the inspector grain calls it from one compute thread at a time.
/// </summary>
public sealed class ModelInspector : IDisposable
{
    private readonly LexiconEmbeddings _embeddings;

    /// <param name="lexicon">The synthetic corpus's lexicon, when the model was trained on it: tokens get categories.</param>
    public ModelInspector(GptStage model, ModelVocabulary vocabulary, long step, SyntheticLexicon? lexicon)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(vocabulary);
        if (!model.Stage.IsFirst || !model.Stage.IsLast)
        {
            throw new ArgumentException("Inspection needs the whole model, not a pipeline stage.", nameof(model));
        }

        Model = model;
        Vocabulary = vocabulary;
        Step = step;
        _embeddings = new LexiconEmbeddings(vocabulary, lexicon);
    }

    public GptStage Model { get; }

    public ModelVocabulary Vocabulary { get; }

    public long Step { get; }

    private GptConfig Config => Model.Config;

    public TokenizedText Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new TokenizedText(Vocabulary.Encoding.Name, Pieces(text));
    }

    public EmbeddingView Embeddings()
    {
        using var scope = NewDisposeScope(); // the table's wrapper
        return _embeddings.View(Model.TokenEmbedding!, Step);
    }

    /// <exception cref="ArgumentException">The text is not one token of the model's vocabulary, or count is below 1.</exception>
    public IReadOnlyList<NeighbourInfo> Neighbours(string token, int count)
    {
        if (count < 1)
        {
            throw new ArgumentException($"Ask for at least one neighbour; got {count}.");
        }

        var id = TokenId(token);
        using var scope = NewDisposeScope();
        return [.. EmbeddingInspector.NearestNeighbours(Model.TokenEmbedding!, id, count)
            .Select(n => new NeighbourInfo(n.ModelId, Vocabulary.Describe(n.ModelId), n.Cosine, _embeddings.Word(n.ModelId)?.Category))];
    }

    /// <summary>The largest attention view sent (every layer's and head's T x T weights): 16 MB, 4 layers x 4 heads at T 512.</summary>
    public const long MaxAttentionViewBytes = 16_000_000;

    /// <exception cref="ArgumentException">A bad prompt, or a view larger than <see cref="MaxAttentionViewBytes"/>.</exception>
    public AttentionView Attention(string prompt)
    {
        var ids = GenerationRules.Prompt(Vocabulary, prompt, Config.BlockSize);
        var bytes = (long)ids.Length * ids.Length * Config.LayerCount * Config.HeadCount * sizeof(float);
        if (bytes > MaxAttentionViewBytes)
        {
            throw new ArgumentException(
                $"The attention view of a {ids.Length}-token prompt is every one of {Config.LayerCount} layers x {Config.HeadCount} heads' {ids.Length} x {ids.Length} weights, " +
                $"{bytes:N0} bytes, more than the {MaxAttentionViewBytes:N0} a view may send; shorten the prompt, or ask for one layer and head at a time (the Q/K/V view).");
        }

        using var scope = NewDisposeScope();
        using var probe = Run(ids);
        var heads = new List<AttentionHeadView>();
        foreach (var (layer, capture) in probe.Layers.OrderBy(l => l.Key))
        {
            for (var head = 0; head < Config.HeadCount; head++)
            {
                var weights = capture.Weights![0, head].contiguous(); // (T, T)
                var values = weights.data<float>().ToArray();
                heads.Add(new AttentionHeadView(layer, head, [.. Enumerable.Range(0, ids.Length).Select(i => values.AsSpan(i * ids.Length, ids.Length).ToArray())]));
            }
        }

        return new AttentionView(Pieces(prompt), heads);
    }

    /// <exception cref="ArgumentException">The layer, head or token does not exist.</exception>
    public QkvView Qkv(string prompt, int layer, int head, int token)
    {
        var ids = GenerationRules.Prompt(Vocabulary, prompt, Config.BlockSize);
        if ((uint)layer >= (uint)Config.LayerCount)
        {
            throw new ArgumentException($"The model has layers 0..{Config.LayerCount - 1}; got {layer}.");
        }

        if ((uint)head >= (uint)Config.HeadCount)
        {
            throw new ArgumentException($"Layer {layer} has heads 0..{Config.HeadCount - 1}; got {head}.");
        }

        if ((uint)token >= (uint)ids.Length)
        {
            throw new ArgumentException($"The prompt has tokens 0..{ids.Length - 1}; got {token}.");
        }

        using var scope = NewDisposeScope();
        using var probe = Run(ids);
        var q = AttentionInspector.Qkv(probe, layer, head, token);
        var modelOutput = probe.Layers[layer].HeadOutputs![0, head, token].contiguous().data<float>().ToArray();
        return new QkvView(
            q.Layer, q.Head, q.Token, q.HeadSize, q.Scale, Pieces(prompt), q.Input, q.Query, q.Keys, q.Values, q.RawScores, q.ScaledScores,
            q.Masked, q.Weights, q.Output, modelOutput);
    }

    public NextTokenView NextToken(GenerationRequest request, int top)
    {
        ArgumentNullException.ThrowIfNull(request);
        var options = GenerationRules.Options(request, Config.VocabularySize);
        var ids = GenerationRules.Prompt(Vocabulary, request.Prompt, Config.BlockSize);
        var count = Top(top);
        using var scope = NewDisposeScope();
        var logits = LastLogits(ids);
        var model = Sampler.Softmax(logits);
        var sampled = Sampler.Distribution(logits, options);
        return new NextTokenView(
            Pieces(request.Prompt),
            TokenChooser.Alternatives(Vocabulary, logits, model, sampled, count),
            TokenChooser.Alternatives(Vocabulary, logits, model, sampled, count, ranking: sampled).Where(a => a.SampledProbability > 0).ToList(),
            sampled.Count(p => p > 0),
            Config.VocabularySize);
    }

    public LensView Lens(string prompt, int? position, int top)
    {
        var ids = GenerationRules.Prompt(Vocabulary, prompt, Config.BlockSize);
        var at = position ?? ids.Length - 1;
        if ((uint)at >= (uint)ids.Length)
        {
            throw new ArgumentException($"The prompt has positions 0..{ids.Length - 1}; got {at}.");
        }

        var count = Top(top);
        using var scope = NewDisposeScope();
        using var probe = Run(ids);
        var layers = new List<LensLayerView>();
        foreach (var (layer, capture) in probe.Layers.OrderBy(l => l.Key))
        {
            var logits = Model.Head(capture.Output![0, at].view(1, 1, -1))[0, 0].contiguous().data<float>().ToArray(); // (V)
            var model = Sampler.Softmax(logits);
            layers.Add(new LensLayerView(layer, TokenChooser.Alternatives(Vocabulary, logits, model, model, count)));
        }

        return new LensView(Pieces(prompt), at, layers);
    }

    /// <summary>
    /// The training-token view of row <paramref name="row"/> of a training micro-batch of step <paramref name="step"/>
    /// (1-based) at <paramref name="position"/>: this model's prediction after the row's tokens 0..position, scored on the
    /// row's target there. The loss is the log-sum-exp form of cross-entropy, so a tiny probability still has a finite loss.
    /// </summary>
    /// <exception cref="ArgumentException">The row or position is outside the batch, or top is out of range.</exception>
    public TrainingTokenView TrainingToken(string runId, long step, TokenBatch batch, int microBatch, int row, int position, int top)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if ((uint)row >= (uint)batch.BatchSize)
        {
            throw new ArgumentException($"The micro-batch has rows 0..{batch.BatchSize - 1}; got {row}.");
        }

        if ((uint)position >= (uint)batch.BlockSize)
        {
            throw new ArgumentException($"A training row has positions 0..{batch.BlockSize - 1}; got {position}.");
        }

        var count = Top(top);
        var start = row * batch.BlockSize;
        var context = batch.Inputs[start..(start + position + 1)].Select(id => (int)id).ToArray(); // (position + 1)
        var target = (int)batch.Targets[start + position];
        var logits = LastLogits(context); // (V)
        var model = Sampler.Softmax(logits);
        var max = logits.Max();
        var loss = max + Math.Log(logits.Sum(l => Math.Exp(l - max))) - logits[target];
        var rank = 1 + Enumerable.Range(0, model.Length).Count(i => model[i] > model[target] || (model[i] == model[target] && i < target));
        return new TrainingTokenView(
            runId, step, Step, microBatch, row, position, [.. context.Select(Token)], Token(target),
            TokenChooser.Alternatives(Vocabulary, logits, model, model, count), Math.Exp(-loss), loss, rank);
    }

    /// <summary>Logits of the last position of one forward pass of the whole prompt (no cache): the reference for the pipeline.</summary>
    public float[] LastLogits(IReadOnlyList<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var input = tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Count], dtype: ScalarType.Int64);
        return Model.Forward(input)[0, -1].contiguous().data<float>().ToArray(); // (V)
    }

    private AttentionProbe Run(int[] ids)
    {
        var probe = new AttentionProbe();
        using var _ = no_grad();
        Model.Forward(tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length], dtype: ScalarType.Int64), probe); // (1, T, V)
        return probe;
    }

    private int TokenId(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            throw new ArgumentException("Name a token: its text, e.g. ' cat'.");
        }

        foreach (var candidate in new[] { token, " " + token })
        {
            var ids = Vocabulary.EncodeText(candidate);
            if (ids.Length == 1 && ids[0] != ModelVocabulary.Unknown)
            {
                return ids[0];
            }
        }

        throw new ArgumentException($"'{token}' is not one token the model knows (with or without a leading space).");
    }

    private TrainingTokenInfo Token(int modelId) => new(modelId, Vocabulary.ToSource(modelId), Vocabulary.Describe(modelId));

    private static int Top(int top) => top is >= 1 and <= 1000 ? top : throw new ArgumentException($"top must be between 1 and 1000; got {top}.");

    private List<TokenPieceInfo> Pieces(string text) =>
        [.. Vocabulary.Encoding.Tokenize(text).Select(p => new TokenPieceInfo(p.Text, p.ByteStart, p.ByteLength, p.Id, Vocabulary.ToModel(p.Id)))];

    /// <summary>The greedy answer after EOD, the instruction and "." (KV cache), until the end token or <paramref name="maxTokens"/>.</summary>
    public AnswerView Answer(string instruction, int maxTokens)
    {
        var prompt = AnswerPrompt(instruction);
        if (maxTokens < 1 || prompt.Length + maxTokens > Config.BlockSize + 1)
        {
            throw new ArgumentException($"An answer of 1 to {Config.BlockSize + 1 - prompt.Length} tokens fits after this instruction of {prompt.Length} tokens; got {maxTokens}.");
        }

        var (tokens, ended) = Maths.Rlhf.PpoModels.Complete(Model, prompt, seed: 0, maxTokens, greedy: true);
        return new AnswerView(instruction, Vocabulary.DecodeText(tokens.Where(t => t != ModelVocabulary.EndOfDocument)), ended, tokens.Count, Step);
    }

    /// <summary>Σ log p of the answer's tokens (and the end token when <paramref name="ended"/>) after EOD, the instruction and ".".</summary>
    public double AnswerLogProbability(string instruction, string answer, bool ended)
    {
        ArgumentNullException.ThrowIfNull(answer);
        var prompt = AnswerPrompt(instruction);
        int[] completion = [.. Vocabulary.EncodeText(answer), .. ended ? [ModelVocabulary.EndOfDocument] : Array.Empty<int>()];
        if (completion.Length == 0)
        {
            throw new ArgumentException("An answer without tokens and without the end token has no probability to measure.");
        }

        if (prompt.Length + completion.Length > Config.BlockSize + 1)
        {
            throw new ArgumentException($"The instruction and the answer take {prompt.Length + completion.Length} tokens, more than the context of {Config.BlockSize} allows.");
        }

        var rows = Maths.Rlhf.PpoRows.Build([prompt], [completion], Config.BlockSize);
        var logProbabilities = Maths.Rlhf.PpoModels.LogProbabilities(Model, rows);
        return rows.Positions(0).Sum(p => (double)logProbabilities[p]);
    }

    private int[] AnswerPrompt(string instruction)
    {
        if (string.IsNullOrWhiteSpace(instruction))
        {
            throw new ArgumentException("Give an instruction to answer, e.g. \" describe the dog at the river\".");
        }

        var prompt = InstructionDataset.Prompt(instruction, Vocabulary);
        return prompt.Length < Config.BlockSize
            ? prompt
            : throw new ArgumentException($"The instruction takes {prompt.Length} tokens: no room for an answer in the context of {Config.BlockSize}.");
    }

    public void Dispose() => Model.Dispose();
}
