using System.Text;

namespace InsideLLMs.Distributed.Maths.Data;

/// <summary>
/// A seeded probabilistic grammar whose documents need context: the entity of the first sentence is recalled
/// by name or pronoun later, "was"/"were" and the pronoun agree with it, the place and the found object are
/// recalled, and "bank" is followed by river or money words according to the first sentence. Three documents in
/// ten are instead stories of two entities, of which the second sentence names one and must recall the other: knowing
/// which needs a word compared with the earlier ones (a model learns it from these, and a reward model built on it can
/// then tell a completion that names the prompt's entity from one that names another). One document in twenty is a
/// line of history that starts with the walkthrough's default prompt.
/// </summary>
/// <remarks>
/// <para>A story is 1-3 sentences; the count is a choice like any other, so the end of a document carries
/// probability. A pair story is "{A} and {B} {motion} to the {place}. {opener} {X} left the {place} and {Y}
/// {was/were} {emotion}." with A and B different entities (never one animal twice), X one of them and Y the other.
/// A history document is <see cref="HistoryOpening"/>, one of three true endings, and an optional second sentence.
/// <c>log p(document)</c> is the sum of the log-probabilities of every choice, the first being the kind.</para>
/// <para>The grammar is unambiguous, so p(text) is the probability of its single derivation. A history document
/// starts with "The" without a leading space, which no story does (a story starts with " the" or a name); its
/// ending shows in the words after "in" (" 2017 by", " 2017 in" or " the"), and its second sentence, if any,
/// follows the first period. A pair story is the only document whose first sentence holds "and". In a story, the
/// sentences are the runs between periods; a first sentence starts with "the" or a name and a later one with an
/// opener; the first sentence's kind shows in its third word (a motion verb or "found"), "river" is not a place,
/// and "a" versus "some" separates an object from money; a later sentence's kind shows in the word after its subject
/// (was/were, left, went, or an object verb); a subject is the entity or its pronoun, never both.</para>
/// </remarks>
public sealed class SyntheticGrammar
{
    /// <summary>Changes whenever the same seed would produce different documents; checkpoints record it.</summary>
    public const int Version = 3;

    /// <summary>Longest document in GPT-2 tokens, end-of-document token included: it must fit a 64-token context.</summary>
    public const int MaxDocumentTokens = 64;

    /// <summary>
    /// How every history document starts, and the walkthrough's default prompt: no leading space, so the prompt
    /// typed on the page encodes to the GPT-2 tokens the documents start with ("The", " transformer", ... " in").
    /// </summary>
    public const string HistoryOpening = "The transformer architecture was first introduced in";

    /// <summary>
    /// Probability that a document is history rather than a story: 1 in 20 is ~2,500 of the 50,000 training
    /// documents, and a default run (1,500 steps of 32 rows of 64 tokens, ~4 documents a row) reads ~10,000.
    /// </summary>
    public const double HistoryShare = 0.05;

    /// <summary>
    /// Probability that a document is a pair story. Measured with the reward benchmark's policy (4 layers x 128): after
    /// 2,400 pre-training steps with 3 in 10, the base puts the other name above the one named again in 99.7% of
    /// held-out pair stories, and a reward model from it tells a completion naming the prompt's entity from one naming
    /// another (0.97 of such pairs); with a first version of these stories, 600 steps were not enough (48%).
    /// </summary>
    public const double PairShare = 0.3;

    // Story, history, pair story.
    private static readonly double[] KindWeights = [1 - HistoryShare - PairShare, HistoryShare, PairShare];

    // Vaswani et al., "Attention Is All You Need" (Google Brain, Google Research, University of Toronto), NIPS 2017
    // (the conference now called NeurIPS); equally likely.
    private static readonly string[] HistoryEndings =
    [
        " 2017 by researchers at Google.",
        " 2017 in the paper Attention Is All You Need.",
        " the paper Attention Is All You Need by Vaswani and colleagues at Google.",
    ];

    // No second sentence (the document ends) or one, equally likely.
    private static readonly string[] HistorySecondSentences = ["", " It replaced recurrence with attention."];

    // 1, 2 or 3 sentences: one-sentence documents are common enough that the model must learn to stop.
    private static readonly double[] SentenceCountWeights = [0.3, 0.4, 0.3];

    // First sentence: travel to a place, travel to the river, find money, find an object.
    private static readonly double[] IntroWeights = [0.4, 0.2, 0.2, 0.2];

    // Later sentences: feeling, leaving the place, the bank (once, after river or money), the found object.
    private const double FeelWeight = 0.4;
    private const double LeaveWeight = 0.2;
    private const double BankWeight = 0.4;
    private const double ObjectWeight = 0.3;

    private readonly List<(string Name, string Pronoun)> _names;

    public SyntheticGrammar(SyntheticLexicon lexicon)
    {
        ArgumentNullException.ThrowIfNull(lexicon);
        Lexicon = lexicon;
        _names = [.. lexicon.FemaleNames.Select(n => (n, "she")), .. lexicon.MaleNames.Select(n => (n, "he"))];
    }

    public SyntheticLexicon Lexicon { get; }

    /// <summary>
    /// Texts holding every token the grammar and its instructions can write: the lexicon's words, and each history
    /// document whole (encoded alone, so its first token is "The" as in the corpus). Their tokens belong in the vocabulary.
    /// </summary>
    public IReadOnlyList<string> VocabularyTexts =>
    [
        string.Concat(Lexicon.Words.Select(w => " " + w.Word)) + ".",
        .. HistoryEndings.SelectMany(ending => HistorySecondSentences.Select(second => HistoryOpening + ending + second)),
    ];

    public SyntheticDocument Sample(DeterministicRandom random)
    {
        ArgumentNullException.ThrowIfNull(random);
        return Generate(new RandomChooser(random));
    }

    /// <summary>
    /// Every document with its probability, one per derivation. Only sensible for a small lexicon such as
    /// <see cref="SyntheticLexicon.Tiny"/>; the default lexicon has billions.
    /// </summary>
    public IEnumerable<SyntheticDocument> Enumerate()
    {
        for (var chooser = new EnumeratingChooser(); chooser is not null; chooser = chooser.Next())
        {
            yield return Generate(chooser);
        }
    }

    public InstructionExample SampleInstruction(DeterministicRandom random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var chooser = new RandomChooser(random);
        var entity = ChooseEntity(chooser);
        var opener = chooser.Pick(Lexicon.Openers);
        var subject = chooser.Uniform(2) == 0 ? entity.Phrase : " " + entity.Pronoun;
        var motion = chooser.Pick(Lexicon.MotionVerbs);
        var place = chooser.Pick(Lexicon.Places);
        return chooser.Uniform(3) switch
        {
            0 => new InstructionExample(
                $" describe{entity.Phrase} at the {place}",
                $"{entity.Phrase} {motion} to the {place}. {opener}{subject} {entity.Be} {chooser.Pick(Lexicon.Emotions)}."),
            1 => new InstructionExample(
                $" describe{entity.Phrase} at the river",
                $"{entity.Phrase} {motion} to the river. {opener}{subject} went to the bank and {chooser.Pick(Lexicon.RiverActions)}."),
            _ => new InstructionExample(
                $" describe{entity.Phrase} with the money",
                $"{entity.Phrase} found some money in the {place}. {opener}{subject} went to the bank and {chooser.Pick(Lexicon.MoneyActions)}."),
        };
    }

    private SyntheticDocument Generate(Chooser chooser) => chooser.Weighted(KindWeights) switch
    {
        0 => Story(chooser),
        1 => History(chooser),
        _ => Pair(chooser),
    };

    private SyntheticDocument Pair(Chooser chooser)
    {
        var first = ChooseEntity(chooser);
        var second = ChooseOtherEntity(chooser, first);
        var motion = chooser.Pick(Lexicon.MotionVerbs);
        var place = chooser.Pick(Lexicon.Places);
        var opener = chooser.Pick(Lexicon.Openers);
        var (named, recalled) = chooser.Uniform(2) == 0 ? (first, second) : (second, first);
        var emotion = chooser.Pick(Lexicon.Emotions);
        var text = $"{first.Phrase} and{second.Phrase} {motion} to the {place}. {opener}{named.Phrase} left the {place} and{recalled.Phrase} {recalled.Be} {emotion}.";
        return new SyntheticDocument(text, chooser.LogProbability, 2);
    }

    private static SyntheticDocument History(Chooser chooser)
    {
        var ending = chooser.Pick(HistoryEndings);
        var second = chooser.Pick(HistorySecondSentences);
        return new SyntheticDocument(HistoryOpening + ending + second, chooser.LogProbability, second.Length == 0 ? 1 : 2);
    }

    private SyntheticDocument Story(Chooser chooser)
    {
        var sentences = 1 + chooser.Weighted(SentenceCountWeights);
        var entity = ChooseEntity(chooser);
        var text = new StringBuilder(entity.Phrase);

        string place;
        string? found = null;
        var sense = BankSense.None;
        switch (chooser.Weighted(IntroWeights))
        {
            case 0:
                place = chooser.Pick(Lexicon.Places);
                text.Append($" {chooser.Pick(Lexicon.MotionVerbs)} to the {place}.");
                break;
            case 1:
                place = "river";
                sense = BankSense.River;
                text.Append($" {chooser.Pick(Lexicon.MotionVerbs)} to the river.");
                break;
            case 2:
                place = chooser.Pick(Lexicon.Places);
                sense = BankSense.Money;
                text.Append($" found some money in the {place}.");
                break;
            default:
                var colour = chooser.Pick(Lexicon.Colours);
                found = chooser.Pick(Lexicon.Objects);
                place = chooser.Pick(Lexicon.Places);
                text.Append($" found a {colour} {found} in the {place}.");
                break;
        }

        var weights = new double[4];
        var kinds = new LaterSentence[4];
        for (var s = 1; s < sentences; s++)
        {
            var available = 0;
            Offer(LaterSentence.Feel, FeelWeight, true);
            Offer(LaterSentence.Leave, LeaveWeight, true);
            Offer(LaterSentence.Bank, BankWeight, sense != BankSense.None);
            Offer(LaterSentence.Object, ObjectWeight, found is not null);
            var kind = kinds[chooser.Weighted(weights.AsSpan(0, available))];

            text.Append(' ').Append(chooser.Pick(Lexicon.Openers));
            text.Append(chooser.Uniform(2) == 0 ? entity.Phrase : " " + entity.Pronoun);
            switch (kind)
            {
                case LaterSentence.Feel:
                    text.Append($" {entity.Be} {chooser.Pick(Lexicon.Emotions)}.");
                    break;
                case LaterSentence.Leave:
                    text.Append($" left the {place}.");
                    break;
                case LaterSentence.Bank:
                    var actions = sense == BankSense.River ? Lexicon.RiverActions : Lexicon.MoneyActions;
                    text.Append($" went to the bank and {chooser.Pick(actions)}.");
                    sense = BankSense.None; // the bank comes once per document
                    break;
                default:
                    text.Append($" {chooser.Pick(Lexicon.ObjectVerbs)} the {found}.");
                    break;
            }

            void Offer(LaterSentence candidate, double weight, bool allowed)
            {
                if (allowed)
                {
                    kinds[available] = candidate;
                    weights[available++] = weight;
                }
            }
        }

        return new SyntheticDocument(text.ToString(), chooser.LogProbability, sentences);
    }

    /// <summary>An entity other than <paramref name="other"/> (and not its animal in the other number): a kind among those with a candidate left, then one of them.</summary>
    private Entity ChooseOtherEntity(Chooser chooser, Entity other)
    {
        var names = _names.Where(n => " " + n.Name != other.Phrase).Select(n => new Entity(" " + n.Name, n.Pronoun, "was")).ToArray();
        var animals = Lexicon.Animals.Where(a => " the " + a.Singular != other.Phrase && " the " + a.Plural != other.Phrase).ToArray();
        Entity[][] kinds =
        [
            names,
            [.. animals.Select(a => new Entity(" the " + a.Singular, "it", "was"))],
            [.. animals.Select(a => new Entity(" the " + a.Plural, "they", "were"))],
        ];
        var available = kinds.Where(k => k.Length > 0).ToArray();
        return chooser.Pick(available[chooser.Uniform(available.Length)]);
    }

    private Entity ChooseEntity(Chooser chooser)
    {
        switch (chooser.Uniform(3))
        {
            case 0:
                var (name, pronoun) = chooser.Pick(_names);
                return new Entity(" " + name, pronoun, "was");
            case 1:
                return new Entity(" the " + chooser.Pick(Lexicon.Animals).Singular, "it", "was");
            default:
                return new Entity(" the " + chooser.Pick(Lexicon.Animals).Plural, "they", "were");
        }
    }

    private enum BankSense
    {
        None,
        River,
        Money,
    }

    private enum LaterSentence
    {
        Feel,
        Leave,
        Bank,
        Object,
    }

    private readonly record struct Entity(string Phrase, string Pronoun, string Be);
}
