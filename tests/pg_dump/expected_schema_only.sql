--
-- PostgreSQL database dump
--

\restrict kHfVS2Zyf7fpum8Y8fPlgqsDlQQTZI1gbLX3PwgH7PBV1nCM6BkFQLGhcbxcGqv

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: sales; Type: SCHEMA; Schema: -; Owner: grape
--

CREATE SCHEMA sales;


ALTER SCHEMA sales OWNER TO grape;

--
-- Name: vector; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public;


--
-- Name: EXTENSION vector; Type: COMMENT; Schema: -; Owner: 
--

COMMENT ON EXTENSION vector IS 'vector data type and ivfflat and hnsw access methods';


--
-- Name: status; Type: TYPE; Schema: public; Owner: grape
--

CREATE TYPE public.status AS ENUM (
    'new',
    'paid',
    'shipped'
);


ALTER TYPE public.status OWNER TO grape;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: customers; Type: TABLE; Schema: public; Owner: grape
--

CREATE TABLE public.customers (
    id bigint NOT NULL,
    email text NOT NULL,
    name character varying(80)
);


ALTER TABLE public.customers OWNER TO grape;

--
-- Name: TABLE customers; Type: COMMENT; Schema: public; Owner: grape
--

COMMENT ON TABLE public.customers IS 'people who buy';


--
-- Name: COLUMN customers.email; Type: COMMENT; Schema: public; Owner: grape
--

COMMENT ON COLUMN public.customers.email IS 'login address';


--
-- Name: customers_id_seq; Type: SEQUENCE; Schema: public; Owner: grape
--

CREATE SEQUENCE public.customers_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE public.customers_id_seq OWNER TO grape;

--
-- Name: customers_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: grape
--

ALTER SEQUENCE public.customers_id_seq OWNED BY public.customers.id;


--
-- Name: invoice_seq; Type: SEQUENCE; Schema: public; Owner: grape
--

CREATE SEQUENCE public.invoice_seq
    START WITH 100
    INCREMENT BY 5
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE public.invoice_seq OWNER TO grape;

--
-- Name: notes; Type: TABLE; Schema: public; Owner: grape
--

CREATE TABLE public.notes (
    body text,
    score real
);


ALTER TABLE public.notes OWNER TO grape;

--
-- Name: orders; Type: TABLE; Schema: public; Owner: grape
--

CREATE TABLE public.orders (
    id integer NOT NULL,
    customer_id bigint NOT NULL,
    total numeric(10,2),
    state public.status DEFAULT 'new'::public.status,
    placed_at timestamp with time zone,
    embedding public.vector(3),
    CONSTRAINT orders_total_check CHECK ((total >= (0)::numeric))
);


ALTER TABLE public.orders OWNER TO grape;

--
-- Name: orders_id_seq; Type: SEQUENCE; Schema: public; Owner: grape
--

ALTER TABLE public.orders ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.orders_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: regions; Type: TABLE; Schema: sales; Owner: grape
--

CREATE TABLE sales.regions (
    code character(2) NOT NULL,
    label text
);


ALTER TABLE sales.regions OWNER TO grape;

--
-- Name: customers id; Type: DEFAULT; Schema: public; Owner: grape
--

ALTER TABLE ONLY public.customers ALTER COLUMN id SET DEFAULT nextval('public.customers_id_seq'::regclass);


--
-- Name: customers customers_email_key; Type: CONSTRAINT; Schema: public; Owner: grape
--

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_email_key UNIQUE (email);


--
-- Name: customers customers_pkey; Type: CONSTRAINT; Schema: public; Owner: grape
--

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_pkey PRIMARY KEY (id);


--
-- Name: orders orders_pkey; Type: CONSTRAINT; Schema: public; Owner: grape
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);


--
-- Name: regions regions_pkey; Type: CONSTRAINT; Schema: sales; Owner: grape
--

ALTER TABLE ONLY sales.regions
    ADD CONSTRAINT regions_pkey PRIMARY KEY (code);


--
-- Name: orders_customer_placed; Type: INDEX; Schema: public; Owner: grape
--

CREATE UNIQUE INDEX orders_customer_placed ON public.orders USING btree (customer_id, placed_at);


--
-- Name: orders_embedding_idx; Type: INDEX; Schema: public; Owner: grape
--

CREATE INDEX orders_embedding_idx ON public.orders USING hnsw (embedding public.vector_l2_ops);


--
-- Name: orders orders_customer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: grape
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id);


--
-- PostgreSQL database dump complete
--

\unrestrict kHfVS2Zyf7fpum8Y8fPlgqsDlQQTZI1gbLX3PwgH7PBV1nCM6BkFQLGhcbxcGqv

