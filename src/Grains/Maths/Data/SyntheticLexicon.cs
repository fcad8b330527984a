namespace InsideLLMs.Distributed.Maths.Data;

/// <summary>A word of the lexicon and the category whose embeddings should cluster together.</summary>
public sealed record LexiconWord(string Word, string Category);

/// <summary>An animal with its singular and plural forms (never the same word: "sheep" would make the grammar ambiguous).</summary>
public sealed record LexiconAnimal(string Singular, string Plural);

/// <summary>
/// The words of the synthetic grammar, by category. Every word, written with its leading space (" elephant"),
/// is a single GPT-2 token, so each word is one prediction and one embedding wherever it stands.
/// </summary>
public sealed class SyntheticLexicon
{
    public const string DefaultName = "default";
    public const string TinyName = "tiny";

    /// <summary>Words the grammar's templates and the instructions use, outside the categories.</summary>
    public static IReadOnlyList<string> FunctionWords { get; } =
    [
        "the", "to", "in", "and", "a", "some", "found", "was", "were", "it", "they", "she", "he", "left", "went",
        "bank", "river", "money", "describe", "at", "with",
    ];

    private SyntheticLexicon(
        string name,
        IReadOnlyList<LexiconAnimal> animals,
        IReadOnlyList<string> femaleNames,
        IReadOnlyList<string> maleNames,
        IReadOnlyList<string> places,
        IReadOnlyList<string> motionVerbs,
        IReadOnlyList<string> emotions,
        IReadOnlyList<string> objects,
        IReadOnlyList<string> colours,
        IReadOnlyList<string> objectVerbs,
        IReadOnlyList<string> openers,
        IReadOnlyList<string> riverActions,
        IReadOnlyList<string> moneyActions)
    {
        Name = name;
        Animals = animals;
        FemaleNames = femaleNames;
        MaleNames = maleNames;
        Places = places;
        MotionVerbs = motionVerbs;
        Emotions = emotions;
        Objects = objects;
        Colours = colours;
        ObjectVerbs = objectVerbs;
        Openers = openers;
        RiverActions = riverActions;
        MoneyActions = moneyActions;
        Words = BuildWords();
        Validate();
    }

    /// <summary>About 15-30 words per category: enough for clear embedding clusters, few enough for a ~200-token vocabulary.</summary>
    public static SyntheticLexicon Default { get; } = new(
        DefaultName,
        animals:
        [
            new("dog", "dogs"), new("cat", "cats"), new("bird", "birds"), new("horse", "horses"), new("wolf", "wolves"),
            new("bear", "bears"), new("rabbit", "rabbits"), new("mouse", "mice"), new("lion", "lions"),
            new("tiger", "tigers"), new("duck", "ducks"), new("cow", "cows"), new("pig", "pigs"), new("goat", "goats"),
            new("frog", "frogs"), new("snake", "snakes"), new("elephant", "elephants"), new("monkey", "monkeys"),
            new("whale", "whales"), new("bee", "bees"), new("shark", "sharks"), new("turtle", "turtles"),
            new("chicken", "chickens"), new("spider", "spiders"), new("dragon", "dragons"),
        ],
        femaleNames: ["Anna", "Maria", "Emma", "Sarah", "Lucy", "Alice", "Kate", "Mary", "Laura", "Julia", "Eva", "Rose", "Sophie", "Lily", "Grace"],
        maleNames: ["Tom", "John", "James", "David", "Peter", "Jack", "Paul", "Sam", "Mark", "Max", "Ben", "Leo", "Adam", "Noah", "Oscar"],
        places:
        [
            "forest", "garden", "market", "school", "city", "village", "beach", "farm", "mountain", "island", "house",
            "church", "castle", "field", "hill", "station", "library", "kitchen", "museum", "hospital", "desert",
            "valley", "park", "palace",
        ],
        motionVerbs:
        [
            "walked", "ran", "went", "drove", "flew", "hurried", "wandered", "traveled", "moved", "returned", "came",
            "raced", "marched", "rushed", "headed", "sailed", "rode",
        ],
        emotions:
        [
            "happy", "sad", "angry", "afraid", "calm", "tired", "excited", "proud", "nervous", "bored", "lonely",
            "curious", "brave", "worried", "glad", "upset", "scared", "anxious", "cheerful", "grateful", "jealous",
            "confused", "surprised", "relaxed", "hopeful",
        ],
        objects:
        [
            "ball", "book", "apple", "hat", "box", "key", "cup", "stone", "stick", "bottle", "bag", "rope", "lamp",
            "shoe", "bell", "map", "toy", "flower", "bread", "egg", "leaf", "ring", "knife", "chair", "drum", "candle",
            "basket", "blanket",
        ],
        colours: ["red", "blue", "green", "yellow", "black", "white", "brown", "pink", "purple", "orange", "gray", "golden", "silver"],
        objectVerbs: ["dropped", "carried", "lost", "kept", "hid"],
        openers: ["later", "then", "soon"],
        riverActions: ["watched the water", "sat on the grass", "caught a fish", "watched the boats"],
        moneyActions: ["counted the coins", "paid the loan", "opened an account", "saved the money"]);

    /// <summary>One or two words per category: every derivation can be enumerated (about ten thousand documents).</summary>
    public static SyntheticLexicon Tiny { get; } = new(
        TinyName,
        animals: [new("dog", "dogs")],
        femaleNames: ["Anna"],
        maleNames: ["Tom"],
        places: ["park"],
        motionVerbs: ["walked", "ran"],
        emotions: ["happy", "sad"],
        objects: ["ball"],
        colours: ["red"],
        objectVerbs: ["dropped"],
        openers: ["then", "later"],
        riverActions: ["watched the water"],
        moneyActions: ["counted the coins"]);

    public string Name { get; }

    public IReadOnlyList<LexiconAnimal> Animals { get; }

    public IReadOnlyList<string> FemaleNames { get; }

    public IReadOnlyList<string> MaleNames { get; }

    public IReadOnlyList<string> Places { get; }

    public IReadOnlyList<string> MotionVerbs { get; }

    public IReadOnlyList<string> Emotions { get; }

    public IReadOnlyList<string> Objects { get; }

    public IReadOnlyList<string> Colours { get; }

    /// <summary>What an entity does with the object it found ("then she dropped the ball").</summary>
    public IReadOnlyList<string> ObjectVerbs { get; }

    /// <summary>First word of every sentence after the first ("later", "then").</summary>
    public IReadOnlyList<string> Openers { get; }

    /// <summary>What follows "went to the bank and" when the document spoke of a river.</summary>
    public IReadOnlyList<string> RiverActions { get; }

    /// <summary>What follows "went to the bank and" when the document spoke of money.</summary>
    public IReadOnlyList<string> MoneyActions { get; }

    /// <summary>Every word the grammar can write, once, with its category (function words: "function").</summary>
    public IReadOnlyList<LexiconWord> Words { get; }

    /// <exception cref="ArgumentException">The name is neither "default" nor "tiny".</exception>
    public static SyntheticLexicon Get(string name) => name switch
    {
        DefaultName => Default,
        TinyName => Tiny,
        _ => throw new ArgumentException($"Unknown lexicon '{name}'; known lexicons: {DefaultName}, {TinyName}.", nameof(name)),
    };

    public string? CategoryOf(string word) => Words.FirstOrDefault(w => w.Word == word)?.Category;

    /// <summary>The word sets whose overlap would let two derivations write the same text.</summary>
    private void Validate()
    {
        var forms = Animals.SelectMany(a => new[] { a.Singular, a.Plural }).Concat(FemaleNames).Concat(MaleNames).ToList();
        Require(Animals.Count > 0 && FemaleNames.Count + MaleNames.Count > 0, "it needs animals and names");
        Require(forms.Distinct(StringComparer.Ordinal).Count() == forms.Count, "animal forms and names must all differ");
        Require(!Places.Contains("river"), "\"river\" is the river sentence, not a place");
        Require(!MotionVerbs.Contains("found"), "\"found\" starts the money and object sentences");
        Require(!ObjectVerbs.Intersect(["was", "were", "left", "went"]).Any(), "object verbs must differ from was, were, left, went");
        Require(!Openers.Intersect(forms.Append("the")).Any(), "openers must differ from the words that start a first sentence");
        foreach (var list in new[] { Places, MotionVerbs, Emotions, Objects, Colours, ObjectVerbs, Openers, RiverActions, MoneyActions })
        {
            Require(list.Count > 0 && list.Distinct(StringComparer.Ordinal).Count() == list.Count, "every category needs distinct words");
        }

        void Require(bool condition, string rule)
        {
            if (!condition)
            {
                throw new InvalidOperationException($"Lexicon '{Name}' would make the grammar ambiguous: {rule}.");
            }
        }
    }

    private List<LexiconWord> BuildWords()
    {
        var words = new List<LexiconWord>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Add(IEnumerable<string> items, string category)
        {
            foreach (var item in items.SelectMany(phrase => phrase.Split(' ')))
            {
                if (seen.Add(item))
                {
                    words.Add(new LexiconWord(item, category));
                }
            }
        }

        // Function words first, so "the" in "watched the water" stays a function word.
        Add(FunctionWords, "function");
        Add(Animals.Select(a => a.Singular), "animal");
        Add(Animals.Select(a => a.Plural), "animals");
        Add(FemaleNames, "female name");
        Add(MaleNames, "male name");
        Add(Places, "place");
        Add(MotionVerbs, "motion verb");
        Add(Emotions, "emotion");
        Add(Objects, "object");
        Add(Colours, "colour");
        Add(ObjectVerbs, "object verb");
        Add(Openers, "opener");
        Add(RiverActions, "river action");
        Add(MoneyActions, "money action");
        return words;
    }
}
